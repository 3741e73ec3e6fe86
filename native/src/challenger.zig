//! accept() on an intercepted listener: hands the program only peers that passed GSA1.
//!
//! Each call takes one connection from the kernel with the real accept(), so a blocking
//! listener blocks there exactly as libc's accept() would (SO_RCVTIMEO, signals and
//! EINTR included) and a non-blocking one gets EAGAIN when the backlog is empty. A
//! connection that is one of this process's wakes (wakes.zig) is dropped and the passed
//! peer it was made for is handed over in its place (a peer passes to the program only
//! for its wake, so no wake is left behind to make the listener look readable with
//! nothing to take); any other connection gets its HELLO and joins the table, where
//! finisher.zig's thread hears its PROOF, sends the VERDICT and, when it passes, makes
//! the listener readable again with a wake. So no peer waits
//! for another connection to arrive, whether the program blocks in accept() or waits in
//! select/poll/epoll, and a silent peer costs a table slot, never the accepting thread.
//! Without a LAN secret in the tunnel's answer, connections are handed over as they come.

const std = @import("std");
const assert = std.debug.assert;
const sys = @import("sys.zig");
const real = @import("real.zig");
const log = @import("log.zig");
const conf = @import("environment.zig");
const answer = @import("answer.zig");
const contact = @import("contact.zig");
const names = @import("names.zig");
const cache = @import("cache.zig");
const fd_table = @import("fd_table.zig");
const pending = @import("pending.zig");
const wakes = @import("wakes.zig");
const finisher = @import("finisher.zig");
const handshake = @import("handshake.zig");

/// Connections one accept() call may take from the kernel before giving up with
/// ECONNABORTED (which callers retry); every one of them got an answer by then.
pub const rounds_max = 1 << 16;

/// Returns a connection of listener that passed GSA1, or -1 with errno set.
pub fn accept_passed(
    listener: fd_table.Listener,
    addr: ?*sys.sockaddr,
    len: ?*sys.socklen_t,
    flags: c_int,
) c_int {
    const threaded = finisher.ensure_started();
    var round: u32 = 0;
    while (round < rounds_max) : (round += 1) {
        const client = accept_raw(listener.fd);
        if (client < 0) return -1; // The kernel's errno, as libc's accept() gives it.
        switch (take_wake(listener, client)) {
            .not_a_wake => {},
            .peer => |peer| {
                _ = sys.close(client);
                return hand_over(peer, addr, len, flags);
            },
            .no_peer => {
                _ = sys.close(client);
                continue;
            },
        }
        switch (start(listener, client)) {
            .plain => return hand_over(client, addr, len, flags),
            .closed => {},
            .started => if (threaded) {
                finisher.notify();
            } else if (finish_inline(client)) {
                return hand_over(client, addr, len, flags);
            },
        }
    }
    log.line(.accept, "fd {d} port {d}: no peer passed GSA1 in {d} connections", .{
        listener.fd, listener.port, rounds_max,
    });
    sys.set_errno(sys.ECONNABORTED);
    return -1;
}

/// A new connection, non-blocking and close-on-exec while it is ours. Blocks when the
/// listener does.
fn accept_raw(fd: c_int) c_int {
    const ours = sys.SOCK_NONBLOCK | sys.SOCK_CLOEXEC;
    if (real.functions.accept4) |real_accept4| return real_accept4(fd, null, null, ours);
    const real_accept = real.functions.accept orelse {
        sys.set_errno(sys.ENOSYS);
        return -1;
    };
    const client = real_accept(fd, null, null);
    if (client < 0) return client;
    _ = sys.fcntl(client, sys.F_SETFD, sys.FD_CLOEXEC);
    const status = sys.fcntl(client, sys.F_GETFL);
    if (status >= 0) _ = sys.fcntl(client, sys.F_SETFL, status | sys.O_NONBLOCK);
    return client;
}

const Wake = union(enum) {
    not_a_wake,
    /// The passed peer this wake was made for, now the caller's.
    peer: c_int,
    /// A wake whose peer is gone (its listener was closed, say).
    no_peer,
};

/// Whether client is the other end of one of this process's wakes; if so the wake is
/// consumed and a passed peer taken in the same step, so that a passed peer is handed
/// over only for a wake: none is ever left in the backlog without a peer behind it (a
/// program that saw the listener readable, then called a blocking accept(), would block).
fn take_wake(listener: fd_table.Listener, client: c_int) Wake {
    var storage: sys.sockaddr_storage = undefined;
    var len: sys.socklen_t = @sizeOf(sys.sockaddr_storage);
    if (sys.getpeername(client, &storage, &len) != 0) return .not_a_wake;
    const peer = contact.Address.from_sockaddr(&storage, len) orelse return .not_a_wake;
    fd_table.lock.lock();
    defer fd_table.lock.unlock();
    if (!wakes.global.consume(peer)) return .not_a_wake;
    const passed = pending.global.take_passed(listener.fd, listener.port) orelse return .no_peer;
    return .{ .peer = passed.fd };
}

const Started = enum { started, plain, closed };

/// Records a new peer: with the tunnel's answer at hand, sends its HELLO (or hands it
/// over as plain TCP when the tunnel has no secret); without one, leaves it undecided
/// for the library's thread, which waits for the lookup so the program never does.
fn start(listener: fd_table.Listener, client: c_int) Started {
    assert(client >= 0);
    var peer: pending.Handshake = .{
        .fd = client,
        .listener_fd = listener.fd,
        .listener_port = listener.port,
        .intercept = listener.intercept,
        .refuse = true,
        .deadline_ms = 0,
        .nc = undefined,
    };
    const intercept = conf.global.intercepts[listener.intercept];
    var found: answer.Answer = undefined;
    const known = if (intercept.tunnel) |*tunnel| cache.peek(tunnel, &found) == .answer else true;
    if (known) {
        switch (finisher.decide(&peer, if (intercept.tunnel != null) &found else null)) {
            .hello_sent => {},
            .plain => return .plain,
            .closed => return .closed,
        }
    } else {
        peer.undecided = true;
        peer.deadline_ms = sys.now_ms() + conf.global.lookup_timeout_ms +
            conf.global.handshake_timeout_ms;
    }
    fd_table.lock.lock();
    const added = pending.global.add(peer);
    fd_table.lock.unlock();
    switch (added) {
        .added => return .started,
        .dropped => |oldest| {
            _ = sys.close(oldest.fd);
            log.line(.accept, "port {d}: {d} peers in the table, the oldest waiting one closed", .{
                oldest.listener_port, pending.handshakes_max,
            });
            return .started;
        },
        .full => {
            _ = sys.close(client);
            log.line(.accept, "port {d}: a peer closed, {d} passed peers wait for accept()", .{
                listener.port, pending.handshakes_max,
            });
            return .closed;
        },
    }
}

/// Without the thread: decides this peer here (waiting for the lookup if need be), then
/// waits for its PROOF and judges it; true when it passed (the peer is then out of the
/// table and the caller's).
fn finish_inline(client: c_int) bool {
    fd_table.lock.lock();
    const entry = pending.global.find(client);
    const taken = if (entry) |found| pending.global.remove(found) else null;
    fd_table.lock.unlock();
    var peer = taken orelse return false;
    if (peer.undecided) {
        switch (finisher.decide_waiting(&peer)) {
            .hello_sent => {},
            .plain => return true,
            .closed => return false,
        }
    }
    const failure = handshake.read_exact(client, peer.missing(), peer.deadline_ms);
    if (failure == null) _ = peer.received(peer.missing().len);
    if (failure != null or !finisher.judge(&peer)) {
        _ = sys.close(client);
        return false;
    }
    return true;
}

/// Gives the caller the socket as accept4(flags) would have: its flags and the peer.
fn hand_over(client: c_int, addr: ?*sys.sockaddr, len: ?*sys.socklen_t, flags: c_int) c_int {
    assert(client >= 0);
    const status = sys.fcntl(client, sys.F_GETFL);
    if (status >= 0) {
        const blocking = status & ~sys.O_NONBLOCK;
        const wanted = if (flags & sys.SOCK_NONBLOCK != 0) status | sys.O_NONBLOCK else blocking;
        if (wanted != status) _ = sys.fcntl(client, sys.F_SETFL, wanted);
    }
    const cloexec: c_int = if (flags & sys.SOCK_CLOEXEC != 0) sys.FD_CLOEXEC else 0;
    _ = sys.fcntl(client, sys.F_SETFD, cloexec);
    const out = addr orelse return client;
    const out_len = len orelse return client;
    var storage: sys.sockaddr_storage = undefined;
    var storage_len: sys.socklen_t = @sizeOf(sys.sockaddr_storage);
    if (sys.getpeername(client, &storage, &storage_len) != 0) storage_len = 0;
    const copied = @min(out_len.*, storage_len);
    const bytes: [*]u8 = @ptrCast(out);
    @memcpy(bytes[0..copied], std.mem.asBytes(&storage)[0..copied]);
    out_len.* = storage_len;
    return client;
}

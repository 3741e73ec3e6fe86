//! accept() on an intercepted listener: many GSA1 challenges at once, none inline.
//!
//! Each call takes every connection already pending (at most drain_max per round), sends
//! each its HELLO and keeps it in pending.zig's table with its deadline. Then it polls the
//! listener's handshakes in progress and the listener itself, reads PROOF bytes as they
//! come, and hands over the first peer that passes. A silent peer therefore costs a slot
//! in the table, not the accepting thread's time: 1,000 of them do not stop a good client.
//!
//! A blocking listener waits (poll, up to the nearest deadline) until a peer passes. A
//! non-blocking one does what needs no waiting, except that a call which took new peers
//! waits up to nonblocking_proof_wait_ms for their PROOFs; it then answers EAGAIN. A PROOF
//! arriving later is served by the next accept() call, which an event loop makes only
//! when the listener is readable again (see native/README.md).

const std = @import("std");
const assert = std.debug.assert;
const sys = @import("sys.zig");
const real = @import("real.zig");
const log = @import("log.zig");
const conf = @import("conf.zig");
const answer = @import("answer.zig");
const contact = @import("contact.zig");
const fd_table = @import("fd_table.zig");
const pending = @import("pending.zig");
const handshake = @import("handshake.zig");
const resolver = @import("getaddrinfo.zig");
const gsa1 = @import("gsa1.zig");

/// Connections taken from the kernel's backlog per round.
pub const drain_max = 64;
/// Rounds of one accept() call (each waits for something to happen, or a deadline).
pub const rounds_max = 1 << 16;
/// How long a non-blocking accept() that took new peers waits for their PROOFs.
pub const nonblocking_proof_wait_ms = 50;

comptime {
    assert(drain_max <= pending.handshakes_max);
    assert(nonblocking_proof_wait_ms < 1000);
}

const Call = struct {
    listener: fd_table.Listener,
    nonblocking: bool,
    /// A non-blocking call that took new peers waits for PROOFs until then (0: it won't).
    wait_until_ms: u64 = 0,
};

/// Returns a connection of listener that passed GSA1, or -1 with errno set.
pub fn accept_passed(
    listener: fd_table.Listener,
    addr: ?*sys.sockaddr,
    len: ?*sys.socklen_t,
    flags: c_int,
) c_int {
    ensure_fork_handler();
    const flags_now = sys.fcntl(listener.fd, sys.F_GETFL);
    var call: Call = .{
        .listener = listener,
        .nonblocking = flags_now >= 0 and flags_now & sys.O_NONBLOCK != 0,
    };
    var round: u32 = 0;
    while (round < rounds_max) : (round += 1) {
        expire();
        if (finish_complete(&call)) |client| return hand_over(client, addr, len, flags);
        switch (drain(&call)) {
            .took => {},
            .plain => |client| return hand_over(client, addr, len, flags),
            .failed => |err| return fail(err),
        }
        switch (wait(&call)) {
            .ready, .idle => {},
            .nothing_more => return fail(sys.EAGAIN),
            .interrupted => return fail(if (call.nonblocking) sys.EAGAIN else sys.EINTR),
            .failed => |err| return fail(err),
        }
    }
    log.line(.accept, "fd {d} port {d}: no peer passed GSA1 in {d} rounds", .{
        listener.fd, listener.port, rounds_max,
    });
    return fail(sys.ECONNABORTED);
}

fn fail(err: c_int) c_int {
    sys.set_errno(err);
    return -1;
}

/// Closes the handshakes whose deadline passed, whichever listener they belong to.
fn expire() void {
    var fds: [pending.handshakes_max]c_int = undefined;
    fd_table.lock.lock();
    const count = pending.global.take_expired(sys.now_ms(), &fds);
    fd_table.lock.unlock();
    for (fds[0..count]) |fd| _ = sys.close(fd);
    if (count > 0) {
        log.line(.accept, "{d} peers closed: {s}", .{
            count,
            handshake.Result.text(.{ .outcome = .timeout }),
        });
    }
}

/// Judges the listener's peers whose PROOF is whole; the first that passes, if any.
fn finish_complete(call: *const Call) ?c_int {
    var done: u32 = 0;
    while (done < pending.handshakes_max) : (done += 1) {
        fd_table.lock.lock();
        const taken = pending.global.take_complete(call.listener.fd, call.listener.port);
        fd_table.lock.unlock();
        const complete = taken orelse return null;
        if (finish(&complete)) return complete.fd;
        _ = sys.close(complete.fd);
    }
    return null;
}

/// Sends the VERDICT for a whole PROOF; true when the peer passed.
fn finish(peer: *const pending.Handshake) bool {
    assert(peer.complete());
    var peer_text: [contact.address_text_bytes_max + 32]u8 = undefined;
    const what = describe_peer(peer.fd, peer.listener_port, &peer_text);
    const intercept = conf.global.intercepts[peer.intercept];
    // The verdict is a step of its own, bounded afresh by the handshake timeout.
    const deadline_ms = sys.now_ms() + conf.global.handshake_timeout_ms;
    const no_tunnel: gsa1.Id = @splat(0);
    const tunnel = intercept.tunnel orelse {
        const refused = handshake.challenge_verdict(
            peer.fd,
            null,
            &no_tunnel,
            &peer.proof,
            &peer.nc,
            deadline_ms,
        );
        log.line(
            .accept,
            "{s}: refused ({s}): GLOBUS_STREAMS_INTERCEPT_PORT_{d} is not a tunnel id",
            .{ what, refused.text(), peer.listener_port },
        );
        return false;
    };
    var found: answer.Answer = undefined;
    var secret: ?[]const u8 = null;
    if (!peer.refuse and resolver.fetch(&tunnel, &found, .accept, what) == null) {
        secret = found.secret();
    }
    const result = handshake.challenge_verdict(
        peer.fd,
        secret,
        &tunnel.bytes,
        &peer.proof,
        &peer.nc,
        deadline_ms,
    );
    log.line(.accept, "{s} (tunnel {s}, {s})", .{ what, &tunnel.text, result.text() });
    return result.outcome == .ok;
}

const Drained = union(enum) {
    took,
    /// A connection of a tunnel without a LAN secret: plain TCP, handed over as it is.
    plain: c_int,
    /// accept() failed before taking anything, with this errno.
    failed: c_int,
};

/// Takes the connections already pending and starts their handshakes.
fn drain(call: *Call) Drained {
    var taken: u32 = 0;
    while (taken < drain_max) : (taken += 1) {
        if (!call.nonblocking and !readable_now(call.listener.fd)) break;
        const client = accept_raw(call.listener.fd);
        if (client < 0) {
            const err = sys.errno();
            const later = err == sys.EAGAIN or err == sys.EINTR or err == sys.ECONNABORTED;
            if (taken == 0 and !later) return .{ .failed = err };
            break;
        }
        if (start(call.listener, client)) return .{ .plain = client };
    }
    if (taken > 0 and call.nonblocking and call.wait_until_ms == 0) {
        call.wait_until_ms = sys.now_ms() + nonblocking_proof_wait_ms;
    }
    return .took;
}

/// Sends a new peer its HELLO and records it; true when it is plain TCP instead.
fn start(listener: fd_table.Listener, client: c_int) bool {
    assert(client >= 0);
    var peer_text: [contact.address_text_bytes_max + 32]u8 = undefined;
    const what = describe_peer(client, listener.port, &peer_text);
    const intercept = conf.global.intercepts[listener.intercept];
    var refuse = true;
    if (intercept.tunnel) |*tunnel| {
        var found: answer.Answer = undefined;
        if (resolver.fetch(tunnel, &found, .accept, what) == null) {
            if (found.secret() == null) {
                log.line(.accept, "{s} (tunnel {s}, no LAN secret, plain TCP)", .{
                    what, &tunnel.text,
                });
                return true;
            }
            refuse = false;
        }
    }
    const deadline_ms = sys.now_ms() + conf.global.handshake_timeout_ms;
    var peer: pending.Handshake = .{
        .fd = client,
        .listener_fd = listener.fd,
        .listener_port = listener.port,
        .intercept = listener.intercept,
        .refuse = refuse,
        .deadline_ms = deadline_ms,
        .nc = undefined,
    };
    if (handshake.challenge_hello(client, &peer.nc, deadline_ms)) |failure| {
        log.line(.accept, "{s}: {s}", .{ what, handshake.Result.text(.{ .outcome = failure }) });
        _ = sys.close(client);
        return false;
    }
    fd_table.lock.lock();
    const dropped = pending.global.add(peer);
    fd_table.lock.unlock();
    if (dropped) |oldest| {
        _ = sys.close(oldest.fd);
        log.line(.accept, "port {d}: {d} handshakes in progress, the oldest closed", .{
            oldest.listener_port, pending.handshakes_max,
        });
    }
    return false;
}

const Waited = union(enum) {
    ready,
    idle,
    /// A non-blocking listener with nothing more to do now.
    nothing_more,
    interrupted,
    failed: c_int,
};

/// Waits for PROOF bytes or a new connection, and takes the bytes that came.
fn wait(call: *const Call) Waited {
    var fds: [pending.handshakes_max]c_int = undefined;
    var deadline_ms: u64 = std.math.maxInt(u64);
    fd_table.lock.lock();
    const count = pending.global.waiting(call.listener.fd, call.listener.port, &fds, &deadline_ms);
    fd_table.lock.unlock();
    const timeout_ms = wait_ms(call, count, deadline_ms);
    var polls: [pending.handshakes_max + 1]sys.pollfd = undefined;
    for (fds[0..count], polls[0..count]) |fd, *poll_fd| {
        poll_fd.* = .{ .fd = fd, .events = sys.POLLIN, .revents = 0 };
    }
    polls[count] = .{ .fd = call.listener.fd, .events = sys.POLLIN, .revents = 0 };
    const rc = sys.poll(&polls, count + 1, timeout_ms);
    if (rc < 0) {
        const err = sys.errno();
        return if (err == sys.EINTR) .interrupted else .{ .failed = err };
    }
    if (rc == 0) return if (call.nonblocking and timeout_ms == 0) .nothing_more else .idle;
    receive(call.listener, polls[0..count]);
    return .ready;
}

fn wait_ms(call: *const Call, count: u32, deadline_ms: u64) c_int {
    if (!call.nonblocking) return if (count == 0) -1 else sys.remaining_ms(deadline_ms);
    if (count == 0 or call.wait_until_ms == 0) return 0;
    return sys.remaining_ms(@min(deadline_ms, call.wait_until_ms));
}

/// Reads the PROOF bytes of the peers poll found ready; closes those that hung up.
fn receive(listener: fd_table.Listener, polls: []const sys.pollfd) void {
    assert(polls.len <= pending.handshakes_max);
    var closing: [pending.handshakes_max]c_int = undefined;
    var closing_count: u32 = 0;
    fd_table.lock.lock();
    for (polls) |poll_fd| {
        if (poll_fd.revents == 0) continue;
        // Another thread may have finished, dropped or replaced it since the snapshot.
        const entry = pending.global.find(poll_fd.fd) orelse continue;
        if (!entry.belongs_to(listener.fd, listener.port) or entry.complete()) continue;
        const missing = entry.missing();
        const rc = sys.recv(poll_fd.fd, missing.ptr, missing.len, sys.MSG_DONTWAIT);
        if (rc > 0) {
            _ = entry.received(@intCast(rc));
            continue;
        }
        if (rc < 0 and (sys.errno() == sys.EAGAIN or sys.errno() == sys.EINTR)) continue;
        closing[closing_count] = pending.global.remove(entry).fd;
        closing_count += 1;
    }
    fd_table.lock.unlock();
    for (closing[0..closing_count]) |fd| _ = sys.close(fd);
    if (closing_count > 0) {
        log.line(.accept, "port {d}: {d} peers left before their PROOF: {s}", .{
            listener.port,
            closing_count,
            handshake.Result.text(.{ .outcome = .closed }),
        });
    }
}

fn readable_now(fd: c_int) bool {
    var poll_fd = [1]sys.pollfd{.{ .fd = fd, .events = sys.POLLIN, .revents = 0 }};
    return sys.poll(&poll_fd, 1, 0) > 0;
}

/// A new connection, non-blocking and close-on-exec while it is ours.
fn accept_raw(fd: c_int) c_int {
    const ours = sys.SOCK_NONBLOCK | sys.SOCK_CLOEXEC;
    if (real.functions.accept4) |real_accept4| return real_accept4(fd, null, null, ours);
    const real_accept = real.functions.accept orelse return fail(sys.ENOSYS);
    const client = real_accept(fd, null, null);
    if (client < 0) return client;
    _ = sys.fcntl(client, sys.F_SETFD, sys.FD_CLOEXEC);
    const status = sys.fcntl(client, sys.F_GETFL);
    if (status >= 0) _ = sys.fcntl(client, sys.F_SETFL, status | sys.O_NONBLOCK);
    return client;
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

fn describe_peer(client: c_int, port: u16, buffer: []u8) []const u8 {
    var storage: sys.sockaddr_storage = undefined;
    var len: sys.socklen_t = @sizeOf(sys.sockaddr_storage);
    var text: [contact.address_text_bytes_max]u8 = undefined;
    const peer_name = sys.getpeername(client, &storage, &len) == 0;
    const peer = if (peer_name) contact.Address.from_sockaddr(&storage, len) else null;
    const shown: []const u8 = if (peer) |p| p.format(&text) else "?";
    return std.fmt.bufPrint(buffer, "{s} on port {d}", .{ shown, port }) catch "?";
}

var fork_once: sys.pthread_once_t = 0;

fn ensure_fork_handler() void {
    _ = sys.pthread_once(&fork_once, register_fork_handler);
}

fn register_fork_handler() callconv(.c) void {
    // Runs after init.zig's handlers, which take fd_table.lock around fork and reset it
    // in the child: the table is consistent there.
    _ = sys.pthread_atfork(null, null, fork_child);
}

/// A forked child does not go on with its parent's handshakes: it closes its copies.
fn fork_child() callconv(.c) void {
    const saved_errno = sys.errno();
    defer sys.__errno_location().* = saved_errno;
    var fds: [pending.handshakes_max]c_int = undefined;
    const count = pending.global.clear(&fds);
    for (fds[0..count]) |fd| _ = sys.close(fd);
}

//! The listening side's thread: finishes the GSA1 handshakes accept() started, and makes
//! each peer that passes reach the program without waiting for another connection.
//!
//! accept() (challenger.zig) takes connections from the kernel, sends each its HELLO and
//! leaves it in pending.zig's table. This thread polls those peers, assembles PROOFs
//! that come in pieces, sends the VERDICT, and marks the peers that pass. For each
//! passed peer it keeps one wake connection (wakes.zig) on its way to the listener, so
//! that select/poll/epoll report the listener readable and a blocking accept() returns;
//! accept() then drops the wake and hands over the passed peer. It closes peers that
//! fail, hang up or pass their deadline, and replaces wakes another process took.
//!
//! One thread per process, started by the first intercepted accept(); a forked child
//! starts its own. It blocks every signal and holds fd_table.lock only for table work.

const std = @import("std");
const assert = std.debug.assert;
const sys = @import("sys.zig");
const real = @import("real.zig");
const log = @import("log.zig");
const conf = @import("environment.zig");
const answer = @import("answer.zig");
const contact = @import("contact.zig");
const cache = @import("cache.zig");
const route = @import("route.zig");
const fd_table = @import("fd_table.zig");
const pending = @import("pending.zig");
const wakes = @import("wakes.zig");
const handshake = @import("handshake.zig");
const gsa1 = @import("gsa1.zig");
const thread = @import("thread.zig");

/// A poll() that failed for a reason other than a signal waits this long before the
/// next round, so a broken descriptor cannot make the thread spin.
const poll_failure_pause_ms = 10;
const polls_max = 1 + pending.handshakes_max + wakes.wakes_max;

/// When a wake could not be made, the next round comes this soon to try again.
const wake_retry_ms = 50;

/// Guarded by fd_table.lock.
var running: bool = false;
/// Only the thread touches it: the last reconcile could not make every wake.
var wakes_short: bool = false;
/// The thread's wake-up pipe: accept() writes a byte after adding peers.
var notify_fds: [2]c_int = .{ -1, -1 };

/// Starts the thread once per process; false when it is not running (no thread could be
/// made: accept() then finishes handshakes itself).
pub fn ensure_started() bool {
    fd_table.lock.lock();
    defer fd_table.lock.unlock();
    if (running) return true;
    var fds: [2]c_int = undefined;
    if (sys.pipe2(&fds, sys.O_NONBLOCK | sys.O_CLOEXEC) != 0) return false;
    notify_fds = fds;
    if (!thread.spawn_detached(run, null)) {
        _ = sys.close(fds[0]);
        _ = sys.close(fds[1]);
        notify_fds = .{ -1, -1 };
        log.line(.accept, "cannot start the handshake thread: accept() finishes them", .{});
        return false;
    }
    running = true;
    return true;
}

/// Tells the thread the table changed.
pub fn notify() void {
    const fd = notify_fds[1];
    if (fd < 0) return;
    const byte = [1]u8{1};
    _ = sys.write(fd, &byte, 1); // A full pipe already holds a wake-up.
}

/// The thread's body: rounds for the life of the process (it is not joined; the process
/// ends it by exiting).
fn run(_: ?*anyopaque) callconv(.c) ?*anyopaque {
    while (true) round();
}

fn round() void {
    // Peers decided here may have passed (plain TCP): their wakes go out before the wait.
    decide_undecided();
    wakes_short = !reconcile();
    var fds: [pending.handshakes_max]c_int = undefined;
    var wake_fds: [wakes.wakes_max]c_int = undefined;
    var deadline_ms: u64 = std.math.maxInt(u64);
    fd_table.lock.lock();
    const waiting_count = pending.global.waiting(&fds, &deadline_ms);
    const wake_count = wakes.global.fds(&wake_fds);
    const notify_fd = notify_fds[0];
    fd_table.lock.unlock();

    var polls: [polls_max]sys.pollfd = undefined;
    polls[0] = .{ .fd = notify_fd, .events = sys.POLLIN, .revents = 0 };
    for (fds[0..waiting_count], polls[1..][0..waiting_count]) |fd, *poll_fd| {
        poll_fd.* = .{ .fd = fd, .events = sys.POLLIN, .revents = 0 };
    }
    const wake_polls = polls[1 + waiting_count ..][0..wake_count];
    for (wake_fds[0..wake_count], wake_polls) |fd, *poll_fd| {
        poll_fd.* = .{ .fd = fd, .events = sys.POLLIN, .revents = 0 };
    }
    const total = 1 + waiting_count + wake_count;
    var timeout_ms: c_int = if (waiting_count == 0) -1 else sys.remaining_ms(deadline_ms);
    if (wakes_short and (timeout_ms < 0 or timeout_ms > wake_retry_ms)) timeout_ms = wake_retry_ms;
    const rc = sys.poll(&polls, total, timeout_ms);
    if (rc < 0 and sys.errno() != sys.EINTR) sys.sleep_ms(poll_failure_pause_ms);
    if (polls[0].revents != 0) drain_notify(notify_fd);
    expire();
    if (rc > 0) {
        for (polls[1..][0..waiting_count]) |poll_fd| {
            if (poll_fd.revents != 0) receive(poll_fd.fd);
        }
        for (wake_polls) |poll_fd| {
            if (poll_fd.revents != 0) wake_returned(poll_fd.fd);
        }
    }
    wakes_short = !reconcile();
}

fn drain_notify(fd: c_int) void {
    var buffer: [64]u8 = undefined;
    var reads: u32 = 0;
    while (reads < 64) : (reads += 1) {
        if (sys.read(fd, &buffer, buffer.len) <= 0) return;
    }
}

pub const Decided = enum { hello_sent, plain, closed };

/// Sends a peer its HELLO, judged by the tunnel's answer: found (null when the port's
/// variable is not a tunnel id, or the lookup failed: the peer is then refused, as an
/// unknown tunnel). A tunnel without a LAN secret needs no handshake: .plain, and the
/// peer is the caller's to hand over. The deadline starts here.
pub fn decide(peer: *pending.Handshake, found: ?*const answer.Answer) Decided {
    var peer_text: [contact.address_text_bytes_max + 32]u8 = undefined;
    const what = contact.describe_peer(peer.fd, peer.listener_port, &peer_text);
    peer.undecided = false;
    peer.refuse = true;
    if (found) |tunnel_answer| {
        if (tunnel_answer.secret() == null) {
            const tunnel = conf.global.intercepts[peer.intercept].tunnel.?;
            log.line(.accept, "{s} (tunnel {s}, no LAN secret, plain TCP)", .{ what, &tunnel.text });
            return .plain;
        }
        peer.refuse = false;
    }
    peer.deadline_ms = sys.now_ms() + conf.global.handshake_timeout_ms;
    if (handshake.challenge_hello(peer.fd, &peer.nc, peer.deadline_ms)) |failure| {
        log.line(.accept, "{s}: {s}", .{ what, handshake.Result.text(.{ .outcome = failure }) });
        _ = sys.close(peer.fd);
        return .closed;
    }
    return .hello_sent;
}

/// decide() for a peer taken before the answer was known: waits for the lookup.
pub fn decide_waiting(peer: *pending.Handshake) Decided {
    const tunnel = conf.global.intercepts[peer.intercept].tunnel orelse return decide(peer, null);
    var peer_text: [contact.address_text_bytes_max + 32]u8 = undefined;
    const what = contact.describe_peer(peer.fd, peer.listener_port, &peer_text);
    var found: answer.Answer = undefined;
    if (route.fetch(&tunnel, &found, .accept, what) != null) return decide(peer, null);
    return decide(peer, &found);
}

/// The peers accept() took before the tunnel's answer was known: this thread waits for
/// the lookup (the program never does), then sends their HELLOs, or passes them as
/// plain TCP.
fn decide_undecided() void {
    var peers: [pending.handshakes_max]pending.Handshake = undefined;
    fd_table.lock.lock();
    const count = pending.global.take_undecided(&peers);
    fd_table.lock.unlock();
    for (peers[0..count]) |*peer| {
        switch (decide_waiting(peer)) {
            .closed => continue,
            .hello_sent => {},
            .plain => peer.passed = true,
        }
        fd_table.lock.lock();
        const added = pending.global.add(peer.*);
        fd_table.lock.unlock();
        switch (added) {
            .added => {},
            .dropped => |oldest| _ = sys.close(oldest.fd),
            .full => _ = sys.close(peer.fd),
        }
    }
}

/// Closes the waiting peers whose deadline passed.
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

/// Takes the PROOF bytes that came for a waiting peer; judges a whole PROOF.
fn receive(fd: c_int) void {
    fd_table.lock.lock();
    // Finished, dropped or replaced since the poll set was made: then not ours now.
    const entry = pending.global.find(fd) orelse return fd_table.lock.unlock();
    if (entry.passed) return fd_table.lock.unlock();
    const missing = entry.missing();
    const rc = sys.recv(fd, missing.ptr, missing.len, sys.MSG_DONTWAIT);
    if (rc < 0 and (sys.errno() == sys.EAGAIN or sys.errno() == sys.EINTR)) {
        return fd_table.lock.unlock();
    }
    if (rc > 0 and !entry.received(@intCast(rc))) return fd_table.lock.unlock();
    const peer = pending.global.remove(entry);
    fd_table.lock.unlock();
    if (rc <= 0) {
        _ = sys.close(fd);
        log.line(.accept, "port {d}: a peer left before its PROOF: {s}", .{
            peer.listener_port,
            handshake.Result.text(.{ .outcome = .closed }),
        });
        return;
    }
    if (!judge(&peer)) {
        _ = sys.close(fd);
        return;
    }
    var passed = peer;
    passed.passed = true;
    fd_table.lock.lock();
    const added = pending.global.add(passed);
    fd_table.lock.unlock();
    switch (added) {
        .added => {},
        .dropped => |oldest| _ = sys.close(oldest.fd),
        .full => {
            _ = sys.close(fd);
            log.line(.accept, "port {d}: {d} passed peers wait for accept(): one more closed", .{
                peer.listener_port, pending.handshakes_max,
            });
        },
    }
}

/// Sends the VERDICT for a whole PROOF; true when the peer passed.
pub fn judge(peer: *const pending.Handshake) bool {
    assert(peer.complete());
    var peer_text: [contact.address_text_bytes_max + 32]u8 = undefined;
    const what = contact.describe_peer(peer.fd, peer.listener_port, &peer_text);
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
    // accept() made sure of an answer before it sent the HELLO: the last good one serves.
    var found: answer.Answer = undefined;
    var secret: ?[]const u8 = null;
    if (!peer.refuse and cache.peek(&tunnel, &found) == .answer) secret = found.secret();
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

/// A wake's client end turned readable: accept() took the other end (consumed), or
/// another process sharing the listener did (it sent a HELLO or hung up).
fn wake_returned(fd: c_int) void {
    fd_table.lock.lock();
    const wake = wakes.global.remove(fd);
    fd_table.lock.unlock();
    const gone = wake orelse return;
    _ = sys.close(fd);
    if (!gone.consumed) {
        log.line(.accept, "port {d}: a wake went to another process; another one follows", .{
            gone.listener_port,
        });
    }
}

/// Keeps one wake on its way for each passed peer of every listener; drops the peers of
/// a listener that is no longer listening. False when a wake could not be made.
fn reconcile() bool {
    var complete = true;
    var listeners: [pending.handshakes_max]pending.Handshake = undefined;
    var closing: [pending.handshakes_max]c_int = undefined;
    var closing_count: u32 = 0;
    fd_table.lock.lock();
    const count = pending.global.passed_listeners(&listeners);
    for (listeners[0..count]) |first| {
        const fd = first.listener_fd;
        const port = first.listener_port;
        const passed = pending.global.count_passed(fd, port);
        const on_their_way = wakes.global.outstanding(fd, port);
        if (passed <= on_their_way) continue;
        const address = listening_address(fd, port) orelse {
            closing_count += pending.global.take_listener(fd, port, &closing);
            continue;
        };
        var made: u32 = 0;
        while (made < passed - on_their_way) : (made += 1) {
            if (make_wake(fd, port, address)) continue;
            complete = false;
            break;
        }
    }
    fd_table.lock.unlock();
    for (closing[0..closing_count]) |fd| _ = sys.close(fd);
    if (closing_count > 0) {
        log.line(.accept, "{d} passed peers closed: their listener is gone", .{closing_count});
    }
    return complete;
}

/// Where to connect to reach listener fd: its local address, with a wildcard made
/// loopback. Null when fd is no longer a listener on port.
fn listening_address(fd: c_int, port: u16) ?contact.Address {
    var accepting: c_int = 0;
    var accepting_len: sys.socklen_t = @sizeOf(c_int);
    const rc = sys.getsockopt(fd, sys.SOL_SOCKET, sys.SO_ACCEPTCONN, &accepting, &accepting_len);
    if (rc != 0 or accepting == 0) return null;
    var storage: sys.sockaddr_storage = undefined;
    var len: sys.socklen_t = @sizeOf(sys.sockaddr_storage);
    if (sys.getsockname(fd, &storage, &len) != 0) return null;
    var address = contact.Address.from_sockaddr(&storage, len) orelse return null;
    if (address.port != port) return null;
    if (std.mem.allEqual(u8, address.ip[0..if (address.family == sys.AF_INET) 4 else 16], 0)) {
        address.ip = @splat(0);
        if (address.family == sys.AF_INET) {
            address.ip[0] = 127;
            address.ip[3] = 1;
        } else {
            address.ip[15] = 1;
        }
    }
    return address;
}

/// Connects a new wake to address and records it. Holds fd_table.lock, so accept()
/// cannot take the other end before the wake is known.
fn make_wake(listener_fd: c_int, port: u16, address: contact.Address) bool {
    const real_connect = real.functions.connect orelse return false;
    const fd = sys.socket(address.family, sys.SOCK_STREAM | sys.SOCK_NONBLOCK | sys.SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    var storage: sys.sockaddr_storage = undefined;
    const len = address.to_sockaddr(address.family, &storage) orelse unreachable;
    const rc = real_connect(fd, @ptrCast(&storage), len);
    if (rc != 0 and sys.errno() != sys.EINPROGRESS) {
        const err = sys.errno();
        _ = sys.close(fd);
        log.line(.accept, "port {d}: cannot connect a wake to the listener (errno {d})", .{
            port, err,
        });
        return false;
    }
    var local_storage: sys.sockaddr_storage = undefined;
    var local_len: sys.socklen_t = @sizeOf(sys.sockaddr_storage);
    const named = sys.getsockname(fd, &local_storage, &local_len) == 0;
    const local = if (named) contact.Address.from_sockaddr(&local_storage, local_len) else null;
    const wake: wakes.Wake = .{
        .fd = fd,
        .local = local orelse {
            _ = sys.close(fd);
            return false;
        },
        .listener_fd = listener_fd,
        .listener_port = port,
    };
    wakes.global.add(wake) catch {
        _ = sys.close(fd);
        return false;
    };
    return true;
}

/// In a forked child the thread is gone: the child starts its own when it accepts. Its
/// copies of the parent's peers and wakes are closed. Runs under init.zig's handlers,
/// which reset fd_table.lock in the child first.
pub fn fork_child() void {
    var fds: [pending.handshakes_max]c_int = undefined;
    const count = pending.global.clear(&fds);
    for (fds[0..count]) |fd| _ = sys.close(fd);
    var wake_fds: [wakes.wakes_max]c_int = undefined;
    const wake_count = wakes.global.clear(&wake_fds);
    for (wake_fds[0..wake_count]) |fd| _ = sys.close(fd);
    if (running) {
        _ = sys.close(notify_fds[0]);
        _ = sys.close(notify_fds[1]);
    }
    notify_fds = .{ -1, -1 };
    running = false;
}

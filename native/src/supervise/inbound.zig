//! The listening side: accept()/accept4() on a socket bound to a port named by
//! GLOBUS_STREAMS_INTERCEPT_PORT_<port> returns only connections that passed GSA1 (the
//! supervisor plays the challenger). Other accepts continue untouched.
//!
//! One thread (started with the first such accept) does the work for every listener:
//! - An accept waits as a *waiter*, holding a copy of the listening socket. While
//!   waiters exist, the thread takes every connection from the backlog (at most
//!   accepts_per_round at a time), sends each its HELLO and keeps it in a table of
//!   pending_max handshakes, each with its deadline; when the table is full the oldest
//!   goes, so silent peers lose their place and good clients keep arriving.
//! - A peer whose PROOF is good gets its VERDICT and is handed to the oldest waiter: its
//!   address is written where accept() asked, and the descriptor is injected with
//!   SECCOMP_IOCTL_NOTIF_ADDFD + SECCOMP_ADDFD_FLAG_SEND (accept4's SOCK_CLOEXEC and
//!   SOCK_NONBLOCK applied), so the call returns its number.
//! - A blocking listener's accept waits until a peer passes (a signal ends the wait: the
//!   kernel withdraws the notification, which the thread notices). A non-blocking one
//!   fails with EAGAIN once nothing is left to wait for, or after nonblocking_wait_ms
//!   when it took new peers whose PROOFs have not come yet.
//! - A peer that passes while no accept waits is queued, and the thread makes one
//!   loopback *wake* connection to the listener so the program's poll/epoll sees it
//!   readable and calls accept(), which returns the queued peer. Wake connections are
//!   recognised by their port and closed when taken from the backlog.
//!
//! With no LAN secret in the tunnel's answer the port is plain TCP: peers pass at once.

const std = @import("std");
const assert = std.debug.assert;
const linux = std.os.linux;
const sys = @import("../sys.zig");
const gsa1 = @import("../gsa1.zig");
const names = @import("../names.zig");
const handshake = @import("../handshake.zig");
const contact = @import("../contact.zig");
const log = @import("../log.zig");
const sync = @import("../sync.zig");
const notify = @import("notify.zig");
const state = @import("state.zig");
const tunnels = @import("tunnels.zig");
const threads = @import("threads.zig");

pub const listeners_max = 64;
pub const waiters_max = 256;
pub const pending_max = 256;
pub const ready_max = 64;
pub const wakes_max = 8;
const accepts_per_round = 64;
const nonblocking_wait_ms = 50;
/// How often a waiting accept is checked for having been withdrawn (a signal).
const validity_poll_ms = 100;
const wake_lifetime_ms = 10_000;

comptime {
    assert(pending_max + listeners_max + 1 <= 1024);
}

const Listener = struct {
    inode: u64,
    port: u16,
    /// Where wake connections go (the listening address, loopback for a wildcard).
    wake_address: contact.Address,
    /// Null: the intercept's value is not a tunnel id; every peer is refused.
    tunnel: ?names.TunnelId,
    ready: [ready_max]Peer = undefined,
    ready_count: usize = 0,
    /// Our ends of wake connections not yet seen in the backlog, by local port.
    wakes: [wakes_max]Wake = undefined,
    wakes_count: usize = 0,
};

const Wake = struct { fd: linux.fd_t, port: u16, made_ms: u64 };

const Peer = struct {
    fd: linux.fd_t,
    address: sys.sockaddr_storage,
    address_len: linux.socklen_t,
};

const Pending = struct {
    peer: Peer,
    listener: usize,
    deadline_ms: u64,
    nonce: gsa1.Nonce,
    proof: [gsa1.proof_size]u8,
    proof_len: usize,
    started_ms: u64,
};

const Waiter = struct {
    notification: notify.Notification,
    listener: usize,
    /// Our copy of the program's listening socket.
    fd: linux.fd_t,
    nonblocking: bool,
    /// Non-blocking waiters answer EAGAIN at this time (0: not yet decided).
    give_up_ms: u64,
    close_on_exec: bool,
    set_nonblocking: bool,
};

var lock: sync.Lock = .{};
var listeners: [listeners_max]Listener = undefined;
var listeners_count: usize = 0;
var waiters: [waiters_max]Waiter = undefined;
var waiters_count: usize = 0;
var pending: [pending_max]Pending = undefined;
var pending_count: usize = 0;
var wakeup_fd: linux.fd_t = -1;
var thread_started = false;
var validity_checked_ms: u64 = 0;

/// accept(fd, addr, addrlen) or accept4(fd, addr, addrlen, flags): from the main loop.
pub fn on_accept(notification: notify.Notification) void {
    const listener_fd = state.listener;
    const id = notification.id;
    const copy = notify.take_fd(listener_fd, id, @intCast(notification.pid), notification.data.arg0) orelse {
        return notify.answer_continue(listener_fd, id);
    };
    const marked = switch (mark(copy)) {
        .listener => |index| index,
        .unmarked => {
            _ = linux.close(copy);
            return notify.answer_continue(listener_fd, id);
        },
        .full => {
            _ = linux.close(copy);
            return notify.answer_error(listener_fd, id, .NOBUFS);
        },
    };
    const n = @import("filter.zig").numbers(@import("filter.zig").native_arch);
    const flags: u64 = if (@as(u32, @bitCast(notification.data.nr)) == n.accept4) notification.data.arg3 else 0;
    const status = linux.fcntl(copy, linux.F.GETFL, 0);
    const o_nonblock: usize = @as(usize, 1) << @bitOffsetOf(linux.O, "NONBLOCK");
    const waiter: Waiter = .{
        .notification = notification,
        .listener = marked,
        .fd = copy,
        .nonblocking = linux.errno(status) == .SUCCESS and status & o_nonblock != 0,
        .give_up_ms = 0,
        .close_on_exec = flags & linux.SOCK.CLOEXEC != 0,
        .set_nonblocking = flags & linux.SOCK.NONBLOCK != 0,
    };
    lock.lock();
    defer lock.unlock();
    if (!start_thread() or waiters_count == waiters_max) {
        _ = linux.close(copy);
        return notify.answer_error(listener_fd, id, .NOBUFS);
    }
    waiters[waiters_count] = waiter;
    waiters_count += 1;
    poke();
}

const Mark = union(enum) {
    /// Not an intercepted port: the accept continues untouched.
    unmarked,
    listener: usize,
    /// Intercepted, but the table is full of listeners with accepts waiting.
    full,
};

/// The listener record for socket fd when its port is intercepted.
fn mark(fd: linux.fd_t) Mark {
    var storage: sys.sockaddr_storage = undefined;
    var len: linux.socklen_t = @sizeOf(sys.sockaddr_storage);
    if (linux.errno(linux.getsockname(fd, @ptrCast(&storage), &len)) != .SUCCESS) return .unmarked;
    const local = contact.Address.from_sockaddr(&storage, len) orelse return .unmarked;
    const intercept = state.settings.intercept_for(local.port) orelse return .unmarked;
    const inode = notify.inode_of(fd) orelse return .full;
    lock.lock();
    defer lock.unlock();
    for (listeners[0..listeners_count], 0..) |*known, index| {
        if (known.inode == inode) return .{ .listener = index };
    }
    const index = free_slot() orelse return .full;
    listeners[index] = .{
        .inode = inode,
        .port = local.port,
        .wake_address = wake_target(local),
        .tunnel = state.settings.intercepts[intercept].tunnel,
    };
    var text: [contact.address_text_bytes_max]u8 = undefined;
    log.line(.bind, "{s} is a listener of tunnel {s}", .{
        local.format(&text),
        if (listeners[index].tunnel) |tunnel| &tunnel.text else "(none: every peer is refused)",
    });
    return .{ .listener = index };
}

var next_evicted: usize = 0;

/// A slot for a new listener: a free one, else one whose listener has no accept
/// waiting (its queued peers are closed), taken in turn. Holds lock.
fn free_slot() ?usize {
    if (listeners_count < listeners_max) {
        listeners_count += 1;
        return listeners_count - 1;
    }
    for (0..listeners_max) |step| {
        const index = (next_evicted + step) % listeners_max;
        if (first_waiter(index) != null) continue;
        next_evicted = (index + 1) % listeners_max;
        forget_listener(index);
        return index;
    }
    return null;
}

fn wake_target(local: contact.Address) contact.Address {
    var target = local;
    const zero: [16]u8 = @splat(0);
    const unspecified = if (local.family == sys.AF_INET) std.mem.eql(u8, local.ip[0..4], zero[0..4]) else std.mem.eql(u8, &local.ip, &zero);
    if (!unspecified) return target;
    target.ip = @splat(0);
    if (local.family == sys.AF_INET) {
        target.ip[0] = 127;
        target.ip[3] = 1;
    } else {
        target.ip[15] = 1;
    }
    return target;
}

fn forget_listener(index: usize) void {
    const listener = &listeners[index];
    for (listener.ready[0..listener.ready_count]) |peer| _ = linux.close(peer.fd);
    for (listener.wakes[0..listener.wakes_count]) |wake| _ = linux.close(wake.fd);
    listener.ready_count = 0;
    listener.wakes_count = 0;
    var at: usize = 0;
    while (at < pending_count) {
        if (pending[at].listener == index) drop_pending(at) else at += 1;
    }
}

/// Holds lock.
fn start_thread() bool {
    if (thread_started) return true;
    const created = linux.eventfd(0, linux.EFD.CLOEXEC | linux.EFD.NONBLOCK);
    if (linux.errno(created) != .SUCCESS) return false;
    wakeup_fd = @intCast(created);
    if (!threads.start_detached(serve, 512 * 1024)) return false;
    thread_started = true;
    return true;
}

fn poke() void {
    const one: u64 = 1;
    _ = linux.write(wakeup_fd, std.mem.asBytes(&one), 8);
}

fn serve() void {
    var fds: [pending_max + waiters_max + 1]linux.pollfd = undefined;
    while (true) {
        refresh_answers();
        lock.lock();
        round();
        const count = poll_set(&fds);
        const timeout_ms = next_timeout_ms();
        lock.unlock();
        _ = linux.poll(&fds, count, timeout_ms);
        if (fds[0].revents != 0) {
            var value: u64 = 0;
            _ = linux.read(wakeup_fd, std.mem.asBytes(&value), 8);
        }
        lock.lock();
        read_proofs(fds[1..count]);
        lock.unlock();
    }
}

/// One pass over everything, under lock: withdrawn waiters, the backlogs, queued
/// peers to hand out, expired handshakes and wakes, non-blocking waiters to release.
fn round() void {
    const now = sys.now_ms();
    // A withdrawn waiter (a signal) is found here, or by a failed hand-over.
    if (now >= validity_checked_ms + validity_poll_ms) {
        validity_checked_ms = now;
        drop_withdrawn_waiters();
    }
    for (0..listeners_count) |index| {
        const first = first_waiter(index) orelse continue;
        const took = take_backlog(index, waiters[first].fd, now);
        // Non-blocking accepts wait a little for PROOFs of peers they took, no more.
        for (waiters[0..waiters_count]) |*waiter| {
            if (waiter.listener != index or !waiter.nonblocking or waiter.give_up_ms != 0) continue;
            waiter.give_up_ms = if (took > 0) now + nonblocking_wait_ms else now;
        }
    }
    expire_pending(now);
    for (0..listeners_count) |index| hand_out(index);
    release_nonblocking(now);
    for (0..listeners_count) |index| wake_if_needed(index, now);
}

fn first_waiter(listener: usize) ?usize {
    for (waiters[0..waiters_count], 0..) |waiter, index| {
        if (waiter.listener == listener) return index;
    }
    return null;
}

fn drop_withdrawn_waiters() void {
    var at: usize = 0;
    while (at < waiters_count) {
        if (notify.still_valid(state.listener, waiters[at].notification.id)) {
            at += 1;
            continue;
        }
        remove_waiter(at);
    }
}

fn remove_waiter(at: usize) void {
    assert(at < waiters_count);
    _ = linux.close(waiters[at].fd);
    // Keep arrival order: the oldest waiter is served first.
    std.mem.copyForwards(Waiter, waiters[at .. waiters_count - 1], waiters[at + 1 .. waiters_count]);
    waiters_count -= 1;
}

/// Accepts what the backlog holds; returns how many new handshakes started. The
/// listening socket is non-blocking for the while (its flags are the program's too), so
/// a connection gone before accept() cannot block this thread.
fn take_backlog(index: usize, fd: linux.fd_t, now: u64) usize {
    const listener = &listeners[index];
    const status = linux.fcntl(fd, linux.F.GETFL, 0);
    if (linux.errno(status) != .SUCCESS) return 0;
    const o_nonblock: usize = @as(usize, 1) << @bitOffsetOf(linux.O, "NONBLOCK");
    if (status & o_nonblock == 0) _ = linux.fcntl(fd, linux.F.SETFL, status | o_nonblock);
    defer if (status & o_nonblock == 0) {
        _ = linux.fcntl(fd, linux.F.SETFL, status);
    };
    var started: usize = 0;
    var round_count: usize = 0;
    while (round_count < accepts_per_round) : (round_count += 1) {
        var peer: Peer = .{ .fd = -1, .address = undefined, .address_len = @sizeOf(sys.sockaddr_storage) };
        const rc = linux.accept4(fd, @ptrCast(&peer.address), &peer.address_len, linux.SOCK.NONBLOCK | linux.SOCK.CLOEXEC);
        if (linux.errno(rc) != .SUCCESS) break;
        peer.fd = @intCast(rc);
        if (is_wake(listener, &peer)) continue;
        const secret = secret_of(listener);
        if (secret == null and listener.tunnel != null and no_secret_needed(listener)) {
            queue_ready(listener, peer);
            continue;
        }
        var nonce: gsa1.Nonce = undefined;
        const deadline_ms = now + state.settings.handshake_timeout_ms;
        if (handshake.challenge_hello(peer.fd, &nonce, deadline_ms) != null) {
            _ = linux.close(peer.fd);
            continue;
        }
        if (pending_count == pending_max) drop_pending(0); // The oldest loses its place.
        pending[pending_count] = .{
            .peer = peer,
            .listener = index,
            .deadline_ms = deadline_ms,
            .nonce = nonce,
            .proof = undefined,
            .proof_len = 0,
            .started_ms = now,
        };
        pending_count += 1;
        started += 1;
    }
    return started;
}

/// True (and the wake closed) when peer is one of our wake connections.
fn is_wake(listener: *Listener, peer: *const Peer) bool {
    const address = contact.Address.from_sockaddr(&peer.address, peer.address_len) orelse return false;
    if (!address.is_loopback()) return false;
    for (listener.wakes[0..listener.wakes_count], 0..) |wake, at| {
        if (wake.port != address.port) continue;
        _ = linux.close(wake.fd);
        _ = linux.close(peer.fd);
        listener.wakes[at] = listener.wakes[listener.wakes_count - 1];
        listener.wakes_count -= 1;
        return true;
    }
    return false;
}

/// The tunnel's LAN secret, from the cached or a fresh answer (a lookup can wait here,
/// once per answer's lifetime); null without a tunnel, an answer, or a secret.
fn secret_of(listener: *const Listener) ?[]const u8 {
    const tunnel = listener.tunnel orelse return null;
    secret_storage = tunnels.peek(&tunnel) orelse return null;
    return secret_storage.secret();
}

/// True when the tunnel's answer came and it has no secret: plain TCP, as a gateway
/// that does not require LAN secrets.
fn no_secret_needed(listener: *const Listener) bool {
    const tunnel = listener.tunnel orelse return false;
    const found = tunnels.peek(&tunnel) orelse return false;
    return found.secret() == null;
}

/// Looks up (or refreshes) the answers of the listeners' tunnels, without the lock: a
/// lookup can take seconds and the main loop takes the lock for every accept.
fn refresh_answers() void {
    var wanted: [listeners_max]names.TunnelId = undefined;
    var count: usize = 0;
    lock.lock();
    for (listeners[0..listeners_count]) |listener| {
        const tunnel = listener.tunnel orelse continue;
        if (first_waiter_of_inode(listener.inode) == null and pending_count == 0) continue;
        wanted[count] = tunnel;
        count += 1;
    }
    lock.unlock();
    for (wanted[0..count]) |*tunnel| _ = tunnels.get(tunnel);
}

fn first_waiter_of_inode(inode: u64) ?usize {
    for (waiters[0..waiters_count], 0..) |waiter, index| {
        if (listeners[waiter.listener].inode == inode) return index;
    }
    return null;
}

/// The answer secret_of() last returned a slice of; only the serving thread uses it.
var secret_storage: @import("../answer.zig").Answer = undefined;

fn drop_pending(at: usize) void {
    assert(at < pending_count);
    _ = linux.close(pending[at].peer.fd);
    std.mem.copyForwards(Pending, pending[at .. pending_count - 1], pending[at + 1 .. pending_count]);
    pending_count -= 1;
}

fn expire_pending(now: u64) void {
    var at: usize = 0;
    while (at < pending_count) {
        if (pending[at].deadline_ms <= now) {
            log.line(.accept, "a peer on port {d} timed out in GSA1", .{listeners[pending[at].listener].port});
            drop_pending(at);
        } else {
            at += 1;
        }
    }
}

/// Reads what came for the handshakes in fds (which follow pending's order) and judges
/// completed PROOFs.
fn read_proofs(fds: []const linux.pollfd) void {
    // Walk backwards so dropping an entry does not move the ones still to visit.
    var index = @min(fds.len, pending_count);
    while (index > 0) {
        index -= 1;
        if (fds[index].revents == 0) continue;
        const entry = &pending[index];
        if (entry.peer.fd != fds[index].fd) continue;
        const want = entry.proof.len - entry.proof_len;
        const got = linux.recvfrom(entry.peer.fd, entry.proof[entry.proof_len..].ptr, want, linux.MSG.DONTWAIT, null, null);
        switch (linux.errno(got)) {
            .SUCCESS => {},
            .AGAIN, .INTR => continue,
            else => {
                drop_pending(index);
                continue;
            },
        }
        if (got == 0) {
            drop_pending(index);
            continue;
        }
        entry.proof_len += got;
        if (entry.proof_len == entry.proof.len) judge(index);
    }
}

fn judge(at: usize) void {
    const entry = pending[at];
    const listener = &listeners[entry.listener];
    const tunnel_bytes: gsa1.Id = if (listener.tunnel) |tunnel| tunnel.bytes else @splat(0);
    const result = handshake.challenge_verdict(entry.peer.fd, secret_of(listener), &tunnel_bytes, &entry.proof, &entry.nonce, entry.deadline_ms);
    log.line(.accept, "a peer on port {d}: {s}", .{ listener.port, result.text() });
    if (result.outcome != .ok) {
        drop_pending(at);
        return;
    }
    // Handed over: take it out of the table without closing it.
    std.mem.copyForwards(Pending, pending[at .. pending_count - 1], pending[at + 1 .. pending_count]);
    pending_count -= 1;
    queue_ready(listener, entry.peer);
}

fn queue_ready(listener: *Listener, peer: Peer) void {
    if (listener.ready_count == ready_max) {
        // The program does not accept: the oldest passed peer goes.
        _ = linux.close(listener.ready[0].fd);
        std.mem.copyForwards(Peer, listener.ready[0 .. ready_max - 1], listener.ready[1..ready_max]);
        listener.ready_count -= 1;
    }
    listener.ready[listener.ready_count] = peer;
    listener.ready_count += 1;
}

/// Gives queued peers to waiting accepts, oldest first on both sides.
fn hand_out(index: usize) void {
    const listener = &listeners[index];
    while (listener.ready_count > 0) {
        const at = first_waiter(index) orelse return;
        const waiter = waiters[at];
        const peer = listener.ready[0];
        if (deliver(waiter, peer)) {
            std.mem.copyForwards(Peer, listener.ready[0 .. listener.ready_count - 1], listener.ready[1..listener.ready_count]);
            listener.ready_count -= 1;
            _ = linux.close(peer.fd);
        }
        remove_waiter(at);
    }
}

/// Writes the peer's address where accept() asked and injects the descriptor; false
/// when the waiter was gone (the peer then stays queued).
fn deliver(waiter: Waiter, peer: Peer) bool {
    const pid: linux.pid_t = @intCast(waiter.notification.pid);
    const address = waiter.notification.data.arg1;
    const len_address = waiter.notification.data.arg2;
    if (address != 0 and len_address != 0) {
        var len_bytes: [4]u8 = undefined;
        if (notify.read_memory(pid, len_address, &len_bytes)) {
            const room = std.mem.readInt(u32, &len_bytes, .little);
            const copy_len = @min(room, peer.address_len);
            _ = notify.write_memory(pid, address, std.mem.asBytes(&peer.address)[0..copy_len]);
            std.mem.writeInt(u32, &len_bytes, peer.address_len, .little);
            _ = notify.write_memory(pid, len_address, &len_bytes);
        }
    }
    const status = linux.fcntl(peer.fd, linux.F.GETFL, 0);
    const o_nonblock: usize = @as(usize, 1) << @bitOffsetOf(linux.O, "NONBLOCK");
    const wanted = if (waiter.set_nonblocking) status | o_nonblock else status & ~o_nonblock;
    _ = linux.fcntl(peer.fd, linux.F.SETFL, wanted);
    notify.answer_with_fd(state.listener, waiter.notification.id, peer.fd, waiter.close_on_exec) catch return false;
    return true;
}

/// Non-blocking accepts with nothing (left) to wait for fail with EAGAIN.
fn release_nonblocking(now: u64) void {
    var at: usize = 0;
    while (at < waiters_count) {
        const waiter = waiters[at];
        const decided = waiter.nonblocking and waiter.give_up_ms != 0;
        if (decided and (now >= waiter.give_up_ms or !has_pending(waiter.listener))) {
            notify.answer_error(state.listener, waiter.notification.id, .AGAIN);
            remove_waiter(at);
        } else {
            at += 1;
        }
    }
}

fn has_pending(listener: usize) bool {
    for (pending[0..pending_count]) |entry| {
        if (entry.listener == listener) return true;
    }
    return false;
}

/// Queued peers and no accept waiting: one loopback connection to the listener, so
/// the program's poll/epoll wakes and calls accept().
fn wake_if_needed(index: usize, now: u64) void {
    const listener = &listeners[index];
    var at: usize = 0;
    while (at < listener.wakes_count) {
        if (now - listener.wakes[at].made_ms < wake_lifetime_ms) {
            at += 1;
            continue;
        }
        _ = linux.close(listener.wakes[at].fd);
        listener.wakes[at] = listener.wakes[listener.wakes_count - 1];
        listener.wakes_count -= 1;
    }
    if (listener.ready_count == 0 or first_waiter(index) != null) return;
    if (listener.wakes_count > 0 or listener.wakes_count == wakes_max) return;
    var storage: sys.sockaddr_storage = undefined;
    const family = listener.wake_address.family;
    const len = listener.wake_address.to_sockaddr(family, &storage) orelse return;
    const created = linux.socket(@intCast(family), linux.SOCK.STREAM | linux.SOCK.NONBLOCK | linux.SOCK.CLOEXEC, 0);
    if (linux.errno(created) != .SUCCESS) return;
    const fd: linux.fd_t = @intCast(created);
    _ = linux.connect(fd, &storage, len);
    var local: sys.sockaddr_storage = undefined;
    var local_len: linux.socklen_t = @sizeOf(sys.sockaddr_storage);
    _ = linux.getsockname(fd, @ptrCast(&local), &local_len);
    const address = contact.Address.from_sockaddr(&local, local_len) orelse {
        _ = linux.close(fd);
        return;
    };
    listener.wakes[listener.wakes_count] = .{ .fd = fd, .port = address.port, .made_ms = now };
    listener.wakes_count += 1;
}

/// fds[0] the wake-up eventfd, then every pending handshake (in table order), then the
/// listening copies of listeners with waiters. Returns how many are set.
fn poll_set(fds: []linux.pollfd) usize {
    fds[0] = .{ .fd = wakeup_fd, .events = linux.POLL.IN, .revents = 0 };
    var count: usize = 1;
    for (pending[0..pending_count]) |entry| {
        fds[count] = .{ .fd = entry.peer.fd, .events = linux.POLL.IN, .revents = 0 };
        count += 1;
    }
    for (0..listeners_count) |index| {
        const at = first_waiter(index) orelse continue;
        fds[count] = .{ .fd = waiters[at].fd, .events = linux.POLL.IN, .revents = 0 };
        count += 1;
    }
    return count;
}

fn next_timeout_ms() i32 {
    const now = sys.now_ms();
    var soonest: u64 = now + validity_poll_ms;
    for (pending[0..pending_count]) |entry| soonest = @min(soonest, entry.deadline_ms);
    for (waiters[0..waiters_count]) |waiter| {
        if (waiter.give_up_ms != 0) soonest = @min(soonest, waiter.give_up_ms);
    }
    if (waiters_count == 0 and pending_count == 0) return -1;
    return @intCast(if (soonest > now) soonest - now else 0);
}

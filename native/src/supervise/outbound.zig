//! The initiating side: connect() (and sendto()/sendmsg() with MSG_FASTOPEN) of the
//! supervised program. Decides first, on the main thread and without waiting, between
//! three outcomes: the call continues untouched, it fails with an errno, or it is taken
//! into the tunnel. Taken calls run on a pool thread: a copy of the program's socket
//! (pidfd_getfd) is connected to the access point and GSA1 runs on it as responder;
//! the program's call then returns 0 (or the bytes sent) or the errno the library gives.
//!
//! Into the tunnel: an address of the pool (127.77.83.0/24, the initiating tunnel's
//! name resolves to 127.77.83.1), the tunnel's listener contact (transparent mode), or,
//! with GLOBUS_STREAMS_ALL, every TCP destination but the access point itself. An unknown
//! pool address fails with EHOSTUNREACH: nothing sent to the pool passes through.
//!
//! A continued call is re-read by the kernel from the program's memory after the check;
//! a program that rewrites its own sockaddr from another thread meanwhile could reach
//! a loopback address of the pool directly. Nothing leaves the host that way.

const std = @import("std");
const assert = std.debug.assert;
const linux = std.os.linux;
const sys = @import("../sys.zig");
const names = @import("../names.zig");
const answer = @import("../answer.zig");
const contact = @import("../contact.zig");
const handshake = @import("../handshake.zig");
const log = @import("../log.zig");
const notify = @import("notify.zig");
const state = @import("state.zig");
const tunnels = @import("tunnels.zig");
const workers = @import("workers.zig");
const filter = @import("filter.zig");
const restarts = @import("restarts.zig");

const Kind = enum {
    /// A pool address: into the tunnel.
    pool,
    /// Maybe the listener contact: into the tunnel when the answer says so.
    maybe_listener,
    /// GLOBUS_STREAMS_ALL: into the tunnel unless it is the access point itself.
    all,
};

const Job = struct {
    notification: notify.Notification,
    destination: contact.Address,
    kind: Kind,
    tunnel: names.TunnelId,
    /// sendto()/sendmsg() with MSG_FASTOPEN: the payload to send once the stream is up.
    fastopen: ?Payload,
};

/// Where a fast-open call's bytes are in the program: one buffer (sendto) or an iovec
/// array of count entries (sendmsg).
const Payload = union(enum) {
    buffer: struct { address: u64, len: u64 },
    vector: struct { address: u64, count: u64 },
};

/// At most this many bytes (and iovecs) go with the first send; the call returns how
/// many went, as a short send.
const payload_bytes_max = 16 * 1024;
const payload_iovecs_max = 64;

const pool = workers.Pool(Job, run);

/// connect(fd, addr, len).
pub fn on_connect(notification: notify.Notification) void {
    const args = notification.data;
    decide(notification, args.arg1, args.arg2, null);
}

/// sendto(fd, buf, len, flags, addr, addr_len) or sendmsg(fd, msg, flags) with
/// MSG_FASTOPEN (the filter traps no others): into the tunnel, the connect is made and
/// proven, then the bytes go as an ordinary send.
pub fn on_fastopen(notification: notify.Notification, is_sendmsg: bool) void {
    const args = notification.data;
    if (is_sendmsg) {
        // struct msghdr (LP64): name (8), namelen (4, padded to 8), iov (8), iovlen (8).
        var header: [32]u8 = undefined;
        if (!notify.read_memory(@intCast(notification.pid), args.arg1, &header)) {
            return notify.answer_continue(state.listener, notification.id);
        }
        const name = std.mem.readInt(u64, header[0..8], .little);
        const name_len = std.mem.readInt(u32, header[8..12], .little);
        const iov = std.mem.readInt(u64, header[16..24], .little);
        const iov_count = std.mem.readInt(u64, header[24..32], .little);
        return decide(notification, name, name_len, .{ .vector = .{ .address = iov, .count = iov_count } });
    }
    decide(notification, args.arg4, args.arg5, .{ .buffer = .{ .address = args.arg1, .len = args.arg2 } });
}

fn decide(notification: notify.Notification, address: u64, address_len: u64, fastopen: ?Payload) void {
    const listener = state.listener;
    var raw: sys.sockaddr_storage = undefined;
    const len: usize = @intCast(@min(address_len, @sizeOf(sys.sockaddr_storage)));
    const bytes = std.mem.asBytes(&raw)[0..len];
    const pid: linux.pid_t = @intCast(notification.pid);
    if (address == 0 or !notify.read_memory(pid, address, bytes)) {
        return notify.answer_continue(listener, notification.id);
    }
    const destination = contact.Address.from_sockaddr(&raw, @intCast(len)) orelse {
        return notify.answer_continue(listener, notification.id);
    };
    if (!notify.still_valid(listener, notification.id)) return;
    const kind = classify(destination) orelse return notify.answer_continue(listener, notification.id);
    const tunnel = state.settings.tunnel orelse {
        return notify.answer_error(listener, notification.id, .HOSTUNREACH);
    };
    if (kind == .pool and tunnels.pool_slot(destination) != tunnels.initiating_slot) {
        log_destination(destination, "fails: no tunnel has this address (EHOSTUNREACH)");
        return notify.answer_error(listener, notification.id, .HOSTUNREACH);
    }
    pool.start(.{
        .notification = notification,
        .destination = destination,
        .kind = kind,
        .tunnel = tunnel,
        .fastopen = fastopen,
    });
}

/// What a destination may be, from what is known now; null: continue untouched.
fn classify(destination: contact.Address) ?Kind {
    if (tunnels.pool_slot(destination) != null) return .pool;
    const tunnel = state.settings.tunnel orelse return null;
    if (state.settings.all) return .all;
    const known = if (tunnels.peek(&tunnel)) |cached| cached.listener_address else state.cold_listener;
    if (known) |listener_address| {
        return if (listener_address.same_endpoint(destination)) .maybe_listener else null;
    }
    // No answer yet and no contact from the launcher: only a lookup can tell.
    return .maybe_listener;
}

fn run(job: Job) void {
    const listener = state.listener;
    const id = job.notification.id;
    const found = switch (tunnels.get(&job.tunnel)) {
        .answer => |fresh| fresh,
        .problem => |problem| {
            // Only a connect that merely might be to the listener contact goes on; with
            // GLOBUS_STREAMS_ALL nothing may leave in clear.
            if (job.kind == .maybe_listener) return notify.answer_continue(listener, id);
            log_destination(job.destination, "fails: the tunnel's lookup failed");
            return notify.answer_error(listener, id, problem.errno());
        },
    };
    const into_tunnel = switch (job.kind) {
        .pool => true,
        .maybe_listener => if (found.listener_address) |address|
            address.same_endpoint(job.destination)
        else
            false,
        .all => !found.connector.same_endpoint(job.destination),
    };
    if (!into_tunnel) return notify.answer_continue(listener, id);
    const fd = notify.take_fd(listener, id, @intCast(job.notification.pid), job.notification.data.arg0) orelse return;
    defer _ = linux.close(fd);
    if (!is_tcp(fd)) {
        if (job.kind != .pool) return notify.answer_continue(listener, id);
        log_destination(job.destination, "fails: only TCP goes into the tunnel (EHOSTUNREACH)");
        return notify.answer_error(listener, id, .HOSTUNREACH);
    }
    // Once per socket, even when a signal restarts the program's call (restarts.zig).
    const ticket = switch (restarts.claim(fd)) {
        .done => |earlier| {
            restarts.settle(earlier.ticket, earlier.outcome, answer_connect(job, fd, earlier.outcome));
            return;
        },
        .run => |ticket| ticket,
    };
    const outcome = connect_into_tunnel(&job, &found, fd);
    restarts.settle(ticket, outcome, answer_connect(job, fd, outcome));
}

/// Answers the program's call with the outcome of the tunnel connect; true when the
/// program got it.
fn answer_connect(job: Job, fd: linux.fd_t, outcome: linux.E) bool {
    const id = job.notification.id;
    if (outcome != .SUCCESS) return notify.deliver(state.listener, id, outcome, 0);
    const payload = job.fastopen orelse return notify.deliver(state.listener, id, .SUCCESS, 0);
    return send_payload(job, fd, payload);
}

fn connect_into_tunnel(job: *const Job, found: *const answer.Answer, fd: linux.fd_t) linux.E {
    const deadline_ms = sys.now_ms() + state.settings.handshake_timeout_ms;
    const failure = if (fits(fd, found.connector))
        connect_and_prove(fd, found, &job.tunnel, deadline_ms)
    else
        connect_replacement(job, found, fd, deadline_ms);
    var text: [contact.address_text_bytes_max]u8 = undefined;
    var ap_text: [contact.address_text_bytes_max]u8 = undefined;
    log.line(.connect, "{s} -> {s} (tunnel {s}, {s})", .{
        job.destination.format(&text),
        found.connector.format(&ap_text),
        &job.tunnel.text,
        if (failure) |why| why.text else if (found.secret() == null) "no LAN secret" else "gsa1 ok",
    });
    return if (failure) |why| why.errno else .SUCCESS;
}

const Failure = struct { errno: linux.E, text: []const u8 };

/// True when fd can connect to the access point as it is: an AF_INET socket for an
/// IPv4 one, an AF_INET6 socket for IPv6, or for IPv4 too (mapped) unless IPV6_V6ONLY.
fn fits(fd: linux.fd_t, access_point: contact.Address) bool {
    const family = socket_family(fd);
    const ap_family = access_point.unmapped().family;
    if (family == ap_family) return true;
    if (family != sys.AF_INET6 or ap_family != sys.AF_INET) return false;
    var v6_only: i32 = 0;
    var len: linux.socklen_t = @sizeOf(i32);
    const rc = linux.getsockopt(fd, linux.IPPROTO.IPV6, linux.IPV6.V6ONLY, std.mem.asBytes(&v6_only), &len);
    return linux.errno(rc) == .SUCCESS and v6_only == 0;
}

/// The program's socket cannot reach the access point's family (an AF_INET socket, as
/// Go makes for 127.77.83.1, and an IPv6 access point): a socket of the right family is
/// connected and proven, then put under the program's descriptor number (ADDFD with
/// SETFD, as dup2 would). Options set on the old socket are lost.
fn connect_replacement(job: *const Job, found: *const answer.Answer, fd: linux.fd_t, deadline_ms: u64) ?Failure {
    const family: u32 = @intCast(found.connector.unmapped().family);
    const created = linux.socket(family, linux.SOCK.STREAM | linux.SOCK.CLOEXEC, 0);
    if (linux.errno(created) != .SUCCESS) return .{ .errno = .AFNOSUPPORT, .text = "cannot make a socket for the access point's family" };
    const replacement: linux.fd_t = @intCast(created);
    defer _ = linux.close(replacement);
    const status = linux.fcntl(fd, linux.F.GETFL, 0);
    if (linux.errno(status) == .SUCCESS) _ = linux.fcntl(replacement, linux.F.SETFL, status);
    if (connect_and_prove(replacement, found, &job.tunnel, deadline_ms)) |failure| return failure;
    const notification = job.notification;
    const cloexec = notify.is_close_on_exec(@intCast(notification.pid), notification.data.arg0);
    const number: u32 = @intCast(notification.data.arg0);
    if (!notify.replace_fd(state.listener, notification.id, replacement, number, cloexec)) {
        return .{ .errno = .INTR, .text = "the program's call went away before its socket could be replaced" };
    }
    return null;
}

/// Connects fd to the access point within deadline_ms and runs GSA1 when there is a
/// secret. The socket is made non-blocking for the while (its flags are shared with the
/// program's descriptor) and its flags restored.
fn connect_and_prove(
    fd: linux.fd_t,
    found: *const answer.Answer,
    tunnel: *const names.TunnelId,
    deadline_ms: u64,
) ?Failure {
    const cannot_reach = "cannot reach the access point";
    var storage: sys.sockaddr_storage = undefined;
    const family = socket_family(fd);
    const len = found.connector.to_sockaddr(family, &storage) orelse unreachable; // fits()
    const flags = linux.fcntl(fd, linux.F.GETFL, 0);
    if (linux.errno(flags) != .SUCCESS) return .{ .errno = .BADF, .text = cannot_reach };
    const nonblock: usize = @as(usize, 1) << @bitOffsetOf(linux.O, "NONBLOCK");
    _ = linux.fcntl(fd, linux.F.SETFL, flags | nonblock);
    defer _ = linux.fcntl(fd, linux.F.SETFL, flags);
    const rc = linux.connect(fd, &storage, len);
    switch (linux.errno(rc)) {
        .SUCCESS => {},
        .INPROGRESS, .INTR => {
            if (handshake.wait(fd, sys.POLLOUT, deadline_ms)) |outcome| {
                const timed_out = outcome == .timeout;
                const text = if (timed_out) "timed out reaching the access point" else cannot_reach;
                return .{ .errno = if (timed_out) .TIMEDOUT else .CONNREFUSED, .text = text };
            }
            var so_error: i32 = 0;
            var so_len: linux.socklen_t = @sizeOf(i32);
            const got = linux.getsockopt(fd, linux.SOL.SOCKET, linux.SO.ERROR, std.mem.asBytes(&so_error), &so_len);
            if (linux.errno(got) != .SUCCESS) so_error = @backingInt(linux.E.CONNREFUSED);
            if (so_error != 0) return .{ .errno = @fromBackingInt(@intCast(so_error)), .text = cannot_reach };
        },
        else => |err| return .{ .errno = err, .text = cannot_reach },
    }
    const secret = found.secret() orelse return null;
    const result = handshake.respond(fd, secret, &tunnel.bytes, &found.lankey_id, deadline_ms);
    if (result.outcome == .ok) return null;
    _ = linux.shutdown(fd, linux.SHUT.RDWR);
    return .{
        .errno = if (result.outcome == .timeout) .TIMEDOUT else .CONNREFUSED,
        .text = result.text(),
    };
}

/// A fast-open call into the tunnel: the stream is up, so the payload goes as an
/// ordinary send, and the call returns what was sent.
fn send_payload(job: Job, fd: linux.fd_t, payload: Payload) bool {
    const listener = state.listener;
    const id = job.notification.id;
    var buffer: [payload_bytes_max]u8 = undefined;
    const pid: linux.pid_t = @intCast(job.notification.pid);
    const len = gather(pid, payload, &buffer) orelse return notify.deliver(listener, id, .FAULT, 0);
    const flags = linux.MSG.NOSIGNAL | linux.MSG.DONTWAIT;
    const sent = linux.sendto(fd, &buffer, len, flags, null, 0);
    return switch (linux.errno(sent)) {
        .SUCCESS => notify.deliver(listener, id, .SUCCESS, @intCast(sent)),
        // Nothing fitted the send buffer yet: the stream is up, so report 0 bytes and
        // let the program send again.
        .AGAIN => notify.deliver(listener, id, .SUCCESS, 0),
        else => |err| notify.deliver(listener, id, err, 0),
    };
}

/// Copies the payload's first bytes into buffer; null when the program's memory
/// cannot be read (the call then fails with EFAULT, as the kernel's would).
fn gather(pid: linux.pid_t, payload: Payload, buffer: *[payload_bytes_max]u8) ?usize {
    switch (payload) {
        .buffer => |one| {
            const len: usize = @intCast(@min(one.len, buffer.len));
            if (!notify.read_memory(pid, one.address, buffer[0..len])) return null;
            return len;
        },
        .vector => |vector| {
            var iovecs: [payload_iovecs_max * 16]u8 = undefined;
            const count: usize = @intCast(@min(vector.count, payload_iovecs_max));
            if (!notify.read_memory(pid, vector.address, iovecs[0 .. count * 16])) return null;
            var len: usize = 0;
            for (0..count) |index| {
                const base = std.mem.readInt(u64, iovecs[index * 16 ..][0..8], .little);
                const part_len = std.mem.readInt(u64, iovecs[index * 16 + 8 ..][0..8], .little);
                const take: usize = @intCast(@min(part_len, buffer.len - len));
                if (!notify.read_memory(pid, base, buffer[len..][0..take])) return null;
                len += take;
                if (len == buffer.len) break;
            }
            return len;
        },
    }
}

fn socket_family(fd: linux.fd_t) c_int {
    var storage: sys.sockaddr_storage = undefined;
    var len: linux.socklen_t = @sizeOf(sys.sockaddr_storage);
    const rc = linux.getsockname(fd, @ptrCast(&storage), &len);
    if (linux.errno(rc) != .SUCCESS or len < 2) return sys.AF_INET;
    return storage.family;
}

fn is_tcp(fd: linux.fd_t) bool {
    var kind: i32 = 0;
    var len: linux.socklen_t = @sizeOf(i32);
    const rc = linux.getsockopt(fd, linux.SOL.SOCKET, linux.SO.TYPE, std.mem.asBytes(&kind), &len);
    if (linux.errno(rc) != .SUCCESS or kind != linux.SOCK.STREAM) return false;
    const family = socket_family(fd);
    return family == sys.AF_INET or family == sys.AF_INET6;
}

fn log_destination(destination: contact.Address, comptime what: []const u8) void {
    var text: [contact.address_text_bytes_max]u8 = undefined;
    log.line(.connect, "{s} " ++ what, .{destination.format(&text)});
}

comptime {
    assert(filter.msg_fastopen == linux.MSG.FASTOPEN);
}

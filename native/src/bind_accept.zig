//! The listening side: bind(), listen(), setsockopt(TCP_DEFER_ACCEPT), accept(), accept4().
//!
//! GLOBUS_STREAMS_INTERCEPT_PORT_<port>=<tunnel id> makes every TCP socket whose local
//! port is <port> a listener of that tunnel. bind() records it in fd_table; accept()
//! trusts the table only after getsockname() confirms the port (close() is not hooked, so
//! numbers get reused), and also catches listeners bound before this library or
//! duplicated with dup() by the same port check.
//!
//! accept() runs the GSA1 challenger side for many peers at once (challenger.zig) and
//! returns only connections that passed; one that fails is closed and accept() goes on.
//! Without a LAN secret in the tunnel's answer, connections are returned as they come.

const std = @import("std");
const sys = @import("sys.zig");
const real = @import("real.zig");
const init = @import("init.zig");
const log = @import("log.zig");
const conf = @import("environment.zig");
const contact = @import("contact.zig");
const fd_table = @import("fd_table.zig");
const challenger = @import("challenger.zig");
const answer = @import("answer.zig");
const cache = @import("cache.zig");

export fn bind(fd: c_int, addr: ?*const sys.sockaddr, len: sys.socklen_t) callconv(.c) c_int {
    init.ensure();
    const real_bind = real.functions.bind orelse {
        sys.set_errno(sys.ENOSYS);
        return -1;
    };
    const rc = real_bind(fd, addr, len);
    if (rc != 0 or conf.global.intercepts_count == 0) return rc;
    const raw = addr orelse return rc;
    const local = contact.Address.from_sockaddr(raw, len) orelse return rc;
    const index = conf.global.intercept_for(local.port) orelse return rc;
    const saved_errno = sys.errno();
    defer sys.__errno_location().* = saved_errno;
    if (!is_stream(fd)) {
        log.line(
            .bind,
            "fd {d} port {d}: not TCP, passes through (only TCP listeners are intercepted)",
            .{ fd, local.port },
        );
        return rc;
    }
    remember(.{ .fd = fd, .port = local.port, .intercept = index });
    const intercept = conf.global.intercepts[index];
    no_defer_accept(fd);
    // Look the tunnel up now, in the background: the first accept() then finds the
    // answer at hand (and never waits for it in any case).
    if (intercept.tunnel) |*tunnel| {
        var found: answer.Answer = undefined;
        _ = cache.peek(tunnel, &found);
    }
    const refusing = "(not a tunnel id: every peer is refused)";
    const tunnel_text: []const u8 = if (intercept.tunnel) |*t| &t.text else refusing;
    log.line(
        .bind,
        "fd {d} port {d}: accept() runs GSA1 for tunnel {s}",
        .{ fd, local.port, tunnel_text },
    );
    return rc;
}

/// An intercepted listener's backlog is at least this: the handshakes of a burst and the
/// wake connections (wakes.zig) need room in it, and a SYN dropped on a full backlog
/// costs its sender a second. (python's socketserver asks for 5.)
pub const backlog_min = 256;

export fn listen(fd: c_int, backlog: c_int) callconv(.c) c_int {
    init.ensure();
    const real_listen = real.functions.listen orelse {
        sys.set_errno(sys.ENOSYS);
        return -1;
    };
    if (listener_of(fd) == null) return real_listen(fd, backlog);
    no_defer_accept(fd);
    if (backlog >= backlog_min) return real_listen(fd, backlog);
    log.line(.bind, "fd {d}: listen backlog {d} raised to {d}", .{ fd, backlog, backlog_min });
    return real_listen(fd, backlog_min);
}

/// TCP_DEFER_ACCEPT holds a connection in the kernel until its peer sends data. GSA1's
/// challenger speaks first, and a wake sends nothing: on an intercepted listener every
/// peer would wait the whole defer time. So it is cleared there, and setting it is
/// answered with success and ignored (nginx's `listen ... deferred`).
fn no_defer_accept(fd: c_int) void {
    const real_setsockopt = real.functions.setsockopt orelse return;
    const off: c_int = 0;
    _ = real_setsockopt(fd, sys.IPPROTO_TCP, sys.TCP_DEFER_ACCEPT, &off, @sizeOf(c_int));
}

export fn setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: ?*const anyopaque,
    len: sys.socklen_t,
) callconv(.c) c_int {
    init.ensure();
    const real_setsockopt = real.functions.setsockopt orelse {
        sys.set_errno(sys.ENOSYS);
        return -1;
    };
    const deferring = level == sys.IPPROTO_TCP and name == sys.TCP_DEFER_ACCEPT;
    if (!deferring or conf.global.intercepts_count == 0) {
        return real_setsockopt(fd, level, name, value, len);
    }
    const port = local_port(fd) orelse return real_setsockopt(fd, level, name, value, len);
    if (conf.global.intercept_for(port) == null) return real_setsockopt(fd, level, name, value, len);
    log.line(.bind, "fd {d} port {d}: TCP_DEFER_ACCEPT ignored (GSA1 speaks first)", .{ fd, port });
    return 0;
}

fn remember(listener: fd_table.Listener) void {
    fd_table.lock.lock();
    defer fd_table.lock.unlock();
    fd_table.global.mark(listener) catch {
        const dropped = fd_table.global.sweep({}, still_listening);
        fd_table.global.mark(listener) catch {
            // accept() still finds it by its port; only the shortcut is lost.
            log.line(.bind, "fd {d}: listener table full ({d} dropped)", .{ listener.fd, dropped });
        };
    };
}

fn still_listening(_: void, listener: fd_table.Listener) bool {
    return local_port(listener.fd) == listener.port;
}

fn is_stream(fd: c_int) bool {
    var kind: c_int = 0;
    var len: sys.socklen_t = @sizeOf(c_int);
    if (sys.getsockopt(fd, sys.SOL_SOCKET, sys.SO_TYPE, &kind, &len) != 0) return false;
    return kind == sys.SOCK_STREAM;
}

fn local_port(fd: c_int) ?u16 {
    var storage: sys.sockaddr_storage = undefined;
    var len: sys.socklen_t = @sizeOf(sys.sockaddr_storage);
    if (sys.getsockname(fd, &storage, &len) != 0) return null;
    const local = contact.Address.from_sockaddr(&storage, len) orelse return null;
    return local.port;
}

/// The listener entry for fd when its local port is intercepted.
fn listener_of(fd: c_int) ?fd_table.Listener {
    if (conf.global.intercepts_count == 0) return null;
    const port = local_port(fd) orelse return null;
    fd_table.lock.lock();
    defer fd_table.lock.unlock();
    if (fd_table.global.find(fd)) |entry| {
        if (entry.port == port) return entry;
        fd_table.global.forget(fd);
    }
    const index = conf.global.intercept_for(port) orelse return null;
    const listener: fd_table.Listener = .{ .fd = fd, .port = port, .intercept = index };
    fd_table.global.mark(listener) catch {};
    return listener;
}

export fn accept(fd: c_int, addr: ?*sys.sockaddr, len: ?*sys.socklen_t) callconv(.c) c_int {
    return accept_common(fd, addr, len, 0, false);
}

export fn accept4(
    fd: c_int,
    addr: ?*sys.sockaddr,
    len: ?*sys.socklen_t,
    flags: c_int,
) callconv(.c) c_int {
    return accept_common(fd, addr, len, flags, true);
}

fn accept_common(
    fd: c_int,
    addr: ?*sys.sockaddr,
    len: ?*sys.socklen_t,
    flags: c_int,
    four: bool,
) c_int {
    init.ensure();
    const listener = listener_of(fd) orelse return real_accept(fd, addr, len, flags, four);
    const saved_errno = sys.errno();
    const client = challenger.accept_passed(listener, addr, len, if (four) flags else 0);
    if (client >= 0) sys.__errno_location().* = saved_errno;
    return client;
}

fn real_accept(
    fd: c_int,
    addr: ?*sys.sockaddr,
    len: ?*sys.socklen_t,
    flags: c_int,
    four: bool,
) c_int {
    if (four) {
        if (real.functions.accept4) |real_accept4| return real_accept4(fd, addr, len, flags);
    } else {
        if (real.functions.accept) |accept_fn| return accept_fn(fd, addr, len);
    }
    sys.set_errno(sys.ENOSYS);
    return -1;
}

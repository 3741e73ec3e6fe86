//! Which tunnel, if any, a host name or a destination belongs to, and the tunnel's answer.
//! No hooks here: getaddrinfo.zig, connect.zig and challenger.zig ask.
//!
//! Only three things ever wait for a contact lookup: a tunnel name (`globus.<id>`), a
//! --host name, and a connection into a tunnel. Whether a name or a destination is the
//! listener contact of the launcher's tunnel (transparent mode) is judged from the last
//! good answer, refreshed in the background, or before the first answer from the
//! contact the launcher found (GLOBUS_STREAMS_LISTENER_CONTACT). Only a program started
//! without the launcher waits once, for the first answer.

const std = @import("std");
const sys = @import("sys.zig");
const log = @import("log.zig");
const conf = @import("environment.zig");
const names = @import("names.zig");
const contact = @import("contact.zig");
const answer = @import("answer.zig");
const cache = @import("cache.zig");
const pool = @import("pool.zig");

/// The tunnel's answer, waiting for a lookup when needed; logs one line when there is
/// none.
pub fn fetch(
    id: *const names.TunnelId,
    out: *answer.Answer,
    hook: log.Hook,
    what: []const u8,
) ?cache.Problem {
    const wait_ms = conf.global.lookup_timeout_ms + 2000;
    const problem = cache.get(id, out, wait_ms) orelse return null;
    var buffer: [256]u8 = undefined;
    log.line(
        hook,
        "{s}: no answer for tunnel {s}: {s}",
        .{ what, &id.text, problem.describe(&buffer) },
    );
    return problem;
}

/// The tunnel a host name resolves into, or null for a name libc should resolve.
pub fn tunnel_of_name(name: []const u8) ?names.TunnelId {
    if (contact.Address.from_text(name, 0) != null) return null;
    if (names.globus_name(name)) |id| return id;
    const id = conf.global.tunnel orelse return null;
    if (conf.global.hosts.contains(name)) return id;
    if (names.trim_name(name) == null) return null;
    // The listener contact may name a host the initiating side cannot resolve.
    const listener = listener_contact(&id, name) orelse return null;
    if (contact.Address.from_text(listener.host_text(), listener.port) != null) return null;
    if (names.same_host(name, listener.host_text())) return id;
    return null;
}

pub const Reason = enum { name, listener, all };

pub const Route = union(enum) {
    pass,
    fail: c_int,
    tunnel: struct { id: names.TunnelId, reason: Reason },
};

/// Where a TCP connection to destination goes. A pool address goes into its tunnel or
/// fails; with GLOBUS_STREAMS_TUNNEL the listener contact goes into it, and with
/// GLOBUS_STREAMS_ALL everything but the access point itself.
pub fn route_destination(destination: contact.Address) Route {
    if (pool.contains(destination)) {
        const id = pool.tunnel_of(destination) orelse return .{ .fail = sys.EHOSTUNREACH };
        return .{ .tunnel = .{ .id = id, .reason = .name } };
    }
    const id = conf.global.tunnel orelse return .pass;
    var text: [contact.address_text_bytes_max]u8 = undefined;
    if (conf.global.all) {
        var found: answer.Answer = undefined;
        if (fetch(&id, &found, .connect, destination.format(&text))) |problem| {
            return .{ .fail = if (problem.kind == .timeout) sys.ETIMEDOUT else sys.ECONNREFUSED };
        }
        if (destination.same_endpoint(found.connector)) return .pass;
        return .{ .tunnel = .{ .id = id, .reason = .all } };
    }
    const listener = listener_contact(&id, destination.format(&text)) orelse return .pass;
    const address = contact.Address.from_text(
        listener.host_text(),
        listener.port,
    ) orelse return .pass; // A name: connect() sees its pool address instead.
    if (destination.same_endpoint(address)) return .{ .tunnel = .{ .id = id, .reason = .listener } };
    return .pass;
}

/// Started without the launcher's check, decisions wait for the first answer (every
/// thread that asks meanwhile joins the same lookup), once per process: not again after
/// each failure's back-off. 0 before, 1 while waiting, 2 after.
var cold_start = std.atomic.Value(u8).init(0);

/// The listener contact of tunnel id as last known, without waiting (see the top).
fn listener_contact(id: *const names.TunnelId, what: []const u8) ?contact.Contact {
    var found: answer.Answer = undefined;
    switch (cache.peek(id, &found)) {
        .answer => return found.listener,
        .none, .looking => {},
    }
    if (conf.global.listener_hint_set) return conf.global.listener_hint;
    // Started without the launcher's check: the first decision waits for the first
    // answer; if that fails, later ones go on without (the refresh runs in background).
    if (cold_start.load(.acquire) == 2) return null;
    _ = cold_start.cmpxchgStrong(0, 1, .acq_rel, .acquire);
    const failed = fetch(id, &found, .connect, what) != null;
    cold_start.store(2, .release);
    if (failed) return null;
    return found.listener;
}

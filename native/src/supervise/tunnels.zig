//! The tunnels the supervisor serves: their lookup answers, cached until stale, and the
//! synthetic address that means the initiating tunnel.
//!
//! One lookup at a time per tunnel; other threads asking meanwhile wait for it. A failed
//! lookup is remembered for failure_backoff_ms so a program retrying in a loop does not
//! start a binary per call. The answers hold the LAN secret: they stay in this process.

const std = @import("std");
const assert = std.debug.assert;
const names = @import("../names.zig");
const answer = @import("../answer.zig");
const lookup = @import("../lookup.zig");
const contact = @import("../contact.zig");
const sync = @import("../sync.zig");
const sys = @import("../sys.zig");
const log = @import("../log.zig");

pub const tunnels_max = 8;
const failure_backoff_ms = 1000;

/// 127.77.83.0/24: slot k is 127.77.83.(k+1). The supervisor serves one initiating
/// tunnel (the launcher's), so its only address is 127.77.83.1.
pub const pool_prefix = [3]u8{ 127, 77, 83 };
pub const initiating_slot = 0;

/// The pool slot of address (IPv4 or v4-mapped IPv6), or null outside the pool.
pub fn pool_slot(address: contact.Address) ?u8 {
    const plain = address.unmapped();
    if (plain.family != sys.AF_INET) return null;
    if (!std.mem.eql(u8, plain.ip[0..3], &pool_prefix)) return null;
    if (plain.ip[3] == 0) return null;
    return plain.ip[3] - 1;
}

pub const Problem = enum {
    lookup_failed,
    lookup_timeout,
    bad_answer,
    too_many_tunnels,

    pub fn errno(problem: Problem) std.os.linux.E {
        return if (problem == .lookup_timeout) .TIMEDOUT else .CONNREFUSED;
    }
};

pub const Result = union(enum) {
    answer: answer.Answer,
    problem: Problem,
};

const Entry = struct {
    tunnel: names.TunnelId,
    /// Held for the whole of a lookup: one at a time per tunnel.
    lookup_lock: sync.Lock = .{},
    /// Guards the fields below.
    lock: sync.Lock = .{},
    cached: ?answer.Answer = null,
    fresh_until_ms: u64 = 0,
    failed_until_ms: u64 = 0,
    failure: Problem = .lookup_failed,
};

var table_lock: sync.Lock = .{};
var entries: [tunnels_max]Entry = undefined;
var entries_count: usize = 0;

pub const Settings = struct {
    bin: ?[]const u8,
    lookup_timeout_ms: u32,
};

var settings: Settings = .{ .bin = null, .lookup_timeout_ms = 15_000 };

pub fn configure(new_settings: Settings) void {
    settings = new_settings;
}

fn entry_for(tunnel: *const names.TunnelId) ?*Entry {
    table_lock.lock();
    defer table_lock.unlock();
    for (entries[0..entries_count]) |*entry| {
        if (entry.tunnel.eql(tunnel)) return entry;
    }
    if (entries_count == tunnels_max) return null;
    entries[entries_count] = .{ .tunnel = tunnel.* };
    entries_count += 1;
    return &entries[entries_count - 1];
}

/// The last answer for tunnel, fresh or stale, without waiting; null when none yet.
pub fn peek(tunnel: *const names.TunnelId) ?answer.Answer {
    const entry = entry_for(tunnel) orelse return null;
    entry.lock.lock();
    defer entry.lock.unlock();
    return entry.cached;
}

/// A fresh answer for tunnel, looking it up when the cached one is stale or missing.
pub fn get(tunnel: *const names.TunnelId) Result {
    const entry = entry_for(tunnel) orelse return .{ .problem = .too_many_tunnels };
    if (cached_fresh(entry)) |result| return result;
    entry.lookup_lock.lock();
    defer entry.lookup_lock.unlock();
    // Another thread may have finished a lookup while this one waited.
    if (cached_fresh(entry)) |result| return result;
    const result = run_lookup(&entry.tunnel);
    entry.lock.lock();
    defer entry.lock.unlock();
    const now = sys.now_ms();
    switch (result) {
        .answer => |fresh| {
            entry.cached = fresh;
            entry.fresh_until_ms = now + @as(u64, fresh.ttl_seconds) * 1000;
            entry.failed_until_ms = 0;
        },
        .problem => |problem| {
            entry.failure = problem;
            entry.failed_until_ms = now + failure_backoff_ms;
        },
    }
    return result;
}

fn cached_fresh(entry: *Entry) ?Result {
    entry.lock.lock();
    defer entry.lock.unlock();
    const now = sys.now_ms();
    if (entry.cached) |cached| {
        if (now < entry.fresh_until_ms) return .{ .answer = cached };
    }
    if (now < entry.failed_until_ms) return .{ .problem = entry.failure };
    return null;
}

fn run_lookup(tunnel: *const names.TunnelId) Result {
    var buffer: [answer.answer_bytes_max]u8 = undefined;
    const output = lookup.run(tunnel, settings.bin, settings.lookup_timeout_ms, &buffer);
    if (output.failure) |failure| {
        log.line(.lookup, "tunnel {s}: lookup failed ({s}, exit code {d})", .{
            &tunnel.text,
            @tagName(failure),
            output.exit_code,
        });
        return .{ .problem = if (failure == .timeout) .lookup_timeout else .lookup_failed };
    }
    const parsed = answer.parse(buffer[0..output.len], tunnel) catch |err| {
        log.line(.lookup, "tunnel {s}: cannot use the lookup's answer: {s}", .{ &tunnel.text, @errorName(err) });
        return .{ .problem = .bad_answer };
    };
    var text: [contact.address_text_bytes_max]u8 = undefined;
    log.line(.lookup, "tunnel {s}: access point {s}{s}", .{
        &tunnel.text,
        parsed.connector.format(&text),
        if (parsed.secret() == null) " (no LAN secret)" else "",
    });
    return .{ .answer = parsed };
}

test "the pool holds 127.77.83.1-255 and their v4-mapped forms" {
    const first = contact.Address.from_text("127.77.83.1", 80).?;
    try std.testing.expectEqual(@as(?u8, 0), pool_slot(first));
    const mapped = contact.Address.from_text("::ffff:127.77.83.9", 80).?;
    try std.testing.expectEqual(@as(?u8, 8), pool_slot(mapped));
    try std.testing.expect(pool_slot(contact.Address.from_text("127.77.83.0", 80).?) == null);
    try std.testing.expect(pool_slot(contact.Address.from_text("127.77.84.1", 80).?) == null);
    try std.testing.expect(pool_slot(contact.Address.from_text("::1", 80).?) == null);
}

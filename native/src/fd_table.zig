//! Which sockets are listeners of a tunnel: bind() marks them, accept() asks.
//!
//! close() is not intercepted, so an entry can outlive its socket and the number be
//! reused. accept() therefore checks that the socket still has the entry's local port
//! before trusting it, and a full table first drops entries whose sockets no longer
//! match (sweep) before refusing a new one.

const std = @import("std");
const assert = std.debug.assert;
const sync = @import("sync.zig");

pub const listeners_max = 64;

pub const Listener = struct {
    fd: c_int,
    port: u16,
    /// Index into conf.intercepts.
    intercept: u8,
};

pub const Table = struct {
    entries: [listeners_max]Listener = undefined,
    used: [listeners_max]bool = @splat(false),

    /// Marks fd as a listener, replacing what was known about that fd.
    pub fn mark(table: *Table, listener: Listener) error{Full}!void {
        assert(listener.fd >= 0);
        assert(listener.port != 0);
        var free: ?usize = null;
        for (table.entries, table.used, 0..) |entry, used, index| {
            if (used and entry.fd == listener.fd) {
                table.entries[index] = listener;
                return;
            }
            if (!used and free == null) free = index;
        }
        const index = free orelse return error.Full;
        table.entries[index] = listener;
        table.used[index] = true;
    }

    pub fn find(table: *const Table, fd: c_int) ?Listener {
        for (table.entries, table.used) |entry, used| {
            if (used and entry.fd == fd) return entry;
        }
        return null;
    }

    pub fn forget(table: *Table, fd: c_int) void {
        for (table.entries, &table.used) |entry, *used| {
            if (used.* and entry.fd == fd) used.* = false;
        }
    }

    /// Drops the entries for which still_listening says no; returns how many it dropped.
    pub fn sweep(
        table: *Table,
        context: anytype,
        comptime still_listening: fn (@TypeOf(context), Listener) bool,
    ) u32 {
        var dropped: u32 = 0;
        for (table.entries, &table.used) |entry, *used| {
            if (used.* and !still_listening(context, entry)) {
                used.* = false;
                dropped += 1;
            }
        }
        return dropped;
    }

    pub fn count(table: *const Table) u32 {
        var total: u32 = 0;
        for (table.used) |used| total += @intFromBool(used);
        assert(total <= listeners_max);
        return total;
    }
};

/// The process's table and its lock.
pub var global: Table = .{};
pub var lock: sync.Lock = .{};

const testing = std.testing;

test "the table marks, finds, replaces and forgets listeners" {
    var table: Table = .{};
    try table.mark(.{ .fd = 3, .port = 8888, .intercept = 0 });
    try table.mark(.{ .fd = 4, .port = 9999, .intercept = 1 });
    try testing.expectEqual(@as(u16, 8888), table.find(3).?.port);
    try testing.expect(table.find(5) == null);
    try table.mark(.{ .fd = 3, .port = 7777, .intercept = 2 });
    try testing.expectEqual(@as(u16, 7777), table.find(3).?.port);
    try testing.expectEqual(@as(u32, 2), table.count());
    table.forget(3);
    try testing.expect(table.find(3) == null);
    try testing.expectEqual(@as(u32, 1), table.count());
    table.forget(42);
    try testing.expectEqual(@as(u32, 1), table.count());
}

fn odd_fds_still_listen(_: void, listener: Listener) bool {
    return @rem(listener.fd, 2) == 1;
}

test "a full table refuses, then frees entries of closed sockets on sweep and reuses them" {
    var table: Table = .{};
    for (0..listeners_max) |index| {
        try table.mark(.{ .fd = @intCast(index + 10), .port = 1000, .intercept = 0 });
    }
    try testing.expectEqual(@as(u32, listeners_max), table.count());
    try testing.expectError(error.Full, table.mark(.{ .fd = 500, .port = 1000, .intercept = 0 }));
    // Replacing a known fd still works when full.
    try table.mark(.{ .fd = 10, .port = 2000, .intercept = 0 });
    try testing.expectEqual(@as(u16, 2000), table.find(10).?.port);
    const dropped = table.sweep({}, odd_fds_still_listen);
    try testing.expectEqual(@as(u32, listeners_max / 2), dropped);
    try table.mark(.{ .fd = 500, .port = 1000, .intercept = 0 });
    try testing.expect(table.find(500) != null);
    try testing.expect(table.find(10) == null);
    try testing.expect(table.find(11) != null);
}

test {
    // The handshakes in progress share this file's lock; their table's tests run here.
    _ = @import("pending.zig");
}

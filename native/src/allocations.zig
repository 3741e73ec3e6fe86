//! The addrinfo lists this library handed out, so freeaddrinfo() frees only those itself
//! and passes every other list to libc.

const std = @import("std");
const assert = std.debug.assert;
const sync = @import("sync.zig");

/// Lists a program may hold at once before getaddrinfo() answers EAI_MEMORY for tunnel
/// names (a program that never frees its results runs out here, not in memory).
pub const allocations_max = 256;

pub const Table = struct {
    pointers: [allocations_max]?*anyopaque = @splat(null),

    pub fn add(table: *Table, pointer: *anyopaque) error{Full}!void {
        for (&table.pointers) |*slot| {
            assert(slot.* != pointer);
            if (slot.* == null) {
                slot.* = pointer;
                return;
            }
        }
        return error.Full;
    }

    /// True when pointer was ours; it is forgotten.
    pub fn remove(table: *Table, pointer: *anyopaque) bool {
        for (&table.pointers) |*slot| {
            if (slot.* == pointer) {
                slot.* = null;
                return true;
            }
        }
        return false;
    }
};

pub var global: Table = .{};
pub var lock: sync.Lock = .{};

test "the allocation table holds allocations_max pointers and frees slots" {
    var table: Table = .{};
    var items: [allocations_max + 1]u8 = undefined;
    for (items[0..allocations_max]) |*item| try table.add(item);
    try std.testing.expectError(error.Full, table.add(&items[allocations_max]));
    try std.testing.expect(table.remove(&items[3]));
    try std.testing.expect(!table.remove(&items[3]));
    try std.testing.expect(!table.remove(&items[allocations_max]));
    try table.add(&items[allocations_max]);
    try std.testing.expect(table.remove(&items[allocations_max]));
}

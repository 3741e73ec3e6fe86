//! Wake connections: how a passed peer makes its listener readable.
//!
//! A peer that passes GSA1 after accept() returned is invisible to the program's
//! select/poll/epoll, which watch the listener's backlog only. So for each passed peer
//! the library connects once to the listener itself (loopback): the backlog gains an
//! entry, the program's event loop (or its blocking accept) wakes and calls accept(),
//! which recognises the wake by its peer address, drops it, and returns the passed peer.
//!
//! Each entry is the client end of one wake connection. Only finisher.zig closes client
//! ends (so a number in its poll set is never the program's); accept() marks an entry
//! consumed when it takes the other end. A client end that turns readable while not
//! consumed was taken by another process sharing the listener (it sent a HELLO, or hung
//! up): the finisher replaces it. One table per process, guarded by fd_table.lock.

const std = @import("std");
const assert = std.debug.assert;
const contact = @import("contact.zig");
const pending = @import("pending.zig");

pub const wakes_max = pending.handshakes_max;

pub const Wake = struct {
    /// The client end: ours, closed only by the finisher.
    fd: c_int,
    /// The client end's address, as accept() sees it for the other end's peer.
    local: contact.Address,
    listener_fd: c_int,
    listener_port: u16,
    consumed: bool = false,

    pub fn belongs_to(wake: *const Wake, listener_fd: c_int, port: u16) bool {
        return wake.listener_fd == listener_fd and wake.listener_port == port;
    }
};

pub const Table = struct {
    entries: [wakes_max]Wake = undefined,
    used: [wakes_max]bool = @splat(false),

    pub fn add(table: *Table, wake: Wake) error{Full}!void {
        assert(wake.fd >= 0);
        for (&table.used, 0..) |*used, index| {
            if (used.*) continue;
            table.entries[index] = wake;
            used.* = true;
            return;
        }
        return error.Full;
    }

    /// Marks consumed the wake whose client end is at peer; true when there was one.
    pub fn consume(table: *Table, peer: contact.Address) bool {
        for (&table.entries, table.used) |*entry, used| {
            if (!used or entry.consumed) continue;
            if (!entry.local.same_endpoint(peer)) continue;
            entry.consumed = true;
            return true;
        }
        return false;
    }

    /// Wakes of the listener still on their way to an accept().
    pub fn outstanding(table: *const Table, listener_fd: c_int, port: u16) u32 {
        var total: u32 = 0;
        for (table.entries, table.used) |entry, used| {
            if (!used or entry.consumed) continue;
            total += @intFromBool(entry.belongs_to(listener_fd, port));
        }
        return total;
    }

    /// Removes the entry for client end fd; null when there is none.
    pub fn remove(table: *Table, fd: c_int) ?Wake {
        for (table.entries, &table.used) |entry, *used| {
            if (!used.* or entry.fd != fd) continue;
            used.* = false;
            return entry;
        }
        return null;
    }

    /// Every client end, for the finisher's poll; returns how many.
    pub fn fds(table: *const Table, out: *[wakes_max]c_int) u32 {
        var count: u32 = 0;
        for (table.entries, table.used) |entry, used| {
            if (!used) continue;
            out[count] = entry.fd;
            count += 1;
        }
        return count;
    }

    /// Forgets every entry, fds into out; returns how many.
    pub fn clear(table: *Table, out: *[wakes_max]c_int) u32 {
        const count = table.fds(out);
        table.used = @splat(false);
        return count;
    }
};

/// The process's table; fd_table.lock guards it.
pub var global: Table = .{};

const testing = std.testing;

test "a wake is consumed once, by its own address, and counted until then" {
    var table: Table = .{};
    const a = contact.Address.from_text("127.0.0.1", 40001).?;
    const b = contact.Address.from_text("127.0.0.1", 40002).?;
    try table.add(.{ .fd = 7, .local = a, .listener_fd = 3, .listener_port = 8000 });
    try table.add(.{ .fd = 8, .local = b, .listener_fd = 3, .listener_port = 8000 });
    try testing.expectEqual(@as(u32, 2), table.outstanding(3, 8000));
    try testing.expectEqual(@as(u32, 0), table.outstanding(4, 8000));
    try testing.expect(!table.consume(contact.Address.from_text("127.0.0.1", 40003).?));
    try testing.expect(table.consume(contact.Address.from_text("::ffff:127.0.0.1", 40001).?));
    try testing.expect(!table.consume(a));
    try testing.expectEqual(@as(u32, 1), table.outstanding(3, 8000));
    try testing.expect(table.remove(7).?.consumed);
    try testing.expect(table.remove(7) == null);
    var out: [wakes_max]c_int = undefined;
    try testing.expectEqual(@as(u32, 1), table.clear(&out));
    try testing.expectEqual(@as(c_int, 8), out[0]);
    for (0..wakes_max) |index| {
        try table.add(.{ .fd = @intCast(index), .local = a, .listener_fd = 3, .listener_port = 1 });
    }
    try testing.expectError(error.Full, table.add(.{
        .fd = 1,
        .local = a,
        .listener_fd = 3,
        .listener_port = 1,
    }));
}

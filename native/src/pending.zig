//! The listening side's GSA1 handshakes in progress: connections accept() has taken from
//! the kernel and sent a HELLO, whose PROOF has not fully arrived yet.
//!
//! One fixed table per process, guarded by fd_table.lock (which init.zig's fork handlers
//! already take and reset). Each entry belongs to a listener (its fd and local port: a
//! listener's number can be reused, close() is not hooked) and has a deadline. When the
//! table is full the oldest entry makes room: a silent peer loses its place, a good client
//! that keeps arriving wins. The PROOF may arrive in pieces; each entry keeps its own.
//! The table never touches a socket: callers close what it hands back.

const std = @import("std");
const assert = std.debug.assert;
const gsa1 = @import("gsa1.zig");

pub const handshakes_max = 256;

comptime {
    assert(handshakes_max >= 2);
    assert(handshakes_max <= 4096);
    assert(gsa1.proof_size <= std.math.maxInt(u8));
}

pub const Handshake = struct {
    fd: c_int,
    listener_fd: c_int,
    listener_port: u16,
    /// Index into conf.intercepts.
    intercept: u8,
    /// No tunnel to judge by (not a tunnel id, or no answer): the verdict is `unknown tunnel`.
    refuse: bool,
    deadline_ms: u64,
    nc: gsa1.Nonce,
    proof: [gsa1.proof_size]u8 = undefined,
    proof_len: u8 = 0,

    /// The part of the PROOF still missing.
    pub fn missing(handshake: *Handshake) []u8 {
        assert(handshake.proof_len <= gsa1.proof_size);
        return handshake.proof[handshake.proof_len..];
    }

    /// Takes bytes read into missing(); true once the PROOF is whole.
    pub fn received(handshake: *Handshake, count: usize) bool {
        assert(count <= gsa1.proof_size - handshake.proof_len);
        handshake.proof_len += @intCast(count);
        return handshake.complete();
    }

    pub fn complete(handshake: *const Handshake) bool {
        assert(handshake.proof_len <= gsa1.proof_size);
        return handshake.proof_len == gsa1.proof_size;
    }

    pub fn belongs_to(handshake: *const Handshake, listener_fd: c_int, port: u16) bool {
        return handshake.listener_fd == listener_fd and handshake.listener_port == port;
    }
};

pub const Table = struct {
    entries: [handshakes_max]Handshake = undefined,
    /// Arrival order of each entry, 0 for a free slot: the smallest is the oldest.
    sequences: [handshakes_max]u64 = @splat(0),
    sequence_last: u64 = 0,

    /// Adds handshake. When the table is full the oldest entry is dropped to make room
    /// and returned: its socket is the caller's to close.
    pub fn add(table: *Table, handshake: Handshake) ?Handshake {
        assert(handshake.fd >= 0);
        assert(handshake.proof_len == 0);
        var oldest: usize = 0;
        for (table.sequences, 0..) |sequence, index| {
            if (sequence == 0) {
                table.put(index, handshake);
                return null;
            }
            if (sequence < table.sequences[oldest]) oldest = index;
        }
        const dropped = table.entries[oldest];
        table.put(oldest, handshake);
        return dropped;
    }

    fn put(table: *Table, index: usize, handshake: Handshake) void {
        table.sequence_last += 1;
        table.entries[index] = handshake;
        table.sequences[index] = table.sequence_last;
    }

    /// The slot of the entry for fd.
    pub fn find(table: *Table, fd: c_int) ?*Handshake {
        for (&table.entries, table.sequences) |*entry, sequence| {
            if (sequence != 0 and entry.fd == fd) return entry;
        }
        return null;
    }

    /// Removes the entry in slot entry (from find) and returns it.
    pub fn remove(table: *Table, entry: *Handshake) Handshake {
        const index = (@intFromPtr(entry) - @intFromPtr(&table.entries)) / @sizeOf(Handshake);
        assert(index < handshakes_max);
        assert(table.sequences[index] != 0);
        table.sequences[index] = 0;
        return entry.*;
    }

    /// Removes the entries whose deadline has passed, putting their fds into fds; returns
    /// how many (fds has room for every entry).
    pub fn take_expired(table: *Table, now_ms: u64, fds: *[handshakes_max]c_int) u32 {
        var taken: u32 = 0;
        for (table.entries, &table.sequences) |entry, *sequence| {
            if (sequence.* == 0 or entry.deadline_ms > now_ms) continue;
            sequence.* = 0;
            fds[taken] = entry.fd;
            taken += 1;
        }
        assert(taken <= handshakes_max);
        return taken;
    }

    /// Removes and returns an entry of the listener whose PROOF is whole, oldest first.
    pub fn take_complete(table: *Table, listener_fd: c_int, port: u16) ?Handshake {
        var found: ?usize = null;
        for (table.entries, table.sequences, 0..) |entry, sequence, index| {
            if (sequence == 0 or !entry.complete()) continue;
            if (!entry.belongs_to(listener_fd, port)) continue;
            if (found == null or sequence < table.sequences[found.?]) found = index;
        }
        const index = found orelse return null;
        table.sequences[index] = 0;
        return table.entries[index];
    }

    /// Fills fds with the listener's entries still waiting for bytes; returns how many
    /// and, through deadline_ms, the nearest of their deadlines (unchanged when none).
    pub fn waiting(
        table: *const Table,
        listener_fd: c_int,
        port: u16,
        fds: *[handshakes_max]c_int,
        deadline_ms: *u64,
    ) u32 {
        var taken: u32 = 0;
        for (table.entries, table.sequences) |entry, sequence| {
            if (sequence == 0 or entry.complete()) continue;
            if (!entry.belongs_to(listener_fd, port)) continue;
            fds[taken] = entry.fd;
            taken += 1;
            deadline_ms.* = @min(deadline_ms.*, entry.deadline_ms);
        }
        assert(taken <= handshakes_max);
        return taken;
    }

    pub fn count(table: *const Table) u32 {
        var total: u32 = 0;
        for (table.sequences) |sequence| total += @intFromBool(sequence != 0);
        assert(total <= handshakes_max);
        return total;
    }

    /// Forgets every entry, putting their fds into fds; returns how many.
    pub fn clear(table: *Table, fds: *[handshakes_max]c_int) u32 {
        return table.take_expired(std.math.maxInt(u64), fds);
    }
};

/// The process's table; fd_table.lock guards it.
pub var global: Table = .{};

const testing = std.testing;

fn example(fd: c_int, listener_fd: c_int, deadline_ms: u64) Handshake {
    return .{
        .fd = fd,
        .listener_fd = listener_fd,
        .listener_port = 8000,
        .intercept = 0,
        .refuse = false,
        .deadline_ms = deadline_ms,
        .nc = @splat(7),
    };
}

test "a full table drops its oldest entry for a new one" {
    var table: Table = .{};
    for (0..handshakes_max) |index| {
        try testing.expect(table.add(example(@intCast(index + 10), 3, 1000)) == null);
    }
    try testing.expectEqual(@as(u32, handshakes_max), table.count());
    const first = table.add(example(900, 3, 1000)) orelse return error.TestExpectedDrop;
    try testing.expectEqual(@as(c_int, 10), first.fd);
    const second = table.add(example(901, 3, 1000)) orelse return error.TestExpectedDrop;
    try testing.expectEqual(@as(c_int, 11), second.fd);
    try testing.expectEqual(@as(u32, handshakes_max), table.count());
    try testing.expect(table.find(10) == null);
    try testing.expect(table.find(900) != null);
    // A slot freed in the middle is reused before anything is dropped.
    _ = table.remove(table.find(100).?);
    try testing.expect(table.add(example(902, 3, 1000)) == null);
    const third = table.add(example(903, 3, 1000)) orelse return error.TestExpectedDrop;
    try testing.expectEqual(@as(c_int, 12), third.fd);
}

test "entries expire at their deadline and only then" {
    var table: Table = .{};
    _ = table.add(example(5, 3, 100));
    _ = table.add(example(6, 3, 200));
    _ = table.add(example(7, 4, 300));
    var fds: [handshakes_max]c_int = undefined;
    try testing.expectEqual(@as(u32, 0), table.take_expired(99, &fds));
    try testing.expectEqual(@as(u32, 2), table.take_expired(200, &fds));
    try testing.expectEqual(@as(c_int, 5), fds[0]);
    try testing.expectEqual(@as(c_int, 6), fds[1]);
    try testing.expectEqual(@as(u32, 1), table.count());
    try testing.expectEqual(@as(u32, 1), table.clear(&fds));
    try testing.expectEqual(@as(c_int, 7), fds[0]);
    try testing.expectEqual(@as(u32, 0), table.count());
}

test "a PROOF arriving in pieces completes once whole, per listener" {
    var table: Table = .{};
    _ = table.add(example(5, 3, 100));
    _ = table.add(example(6, 3, 100));
    _ = table.add(example(7, 4, 100));
    var fds: [handshakes_max]c_int = undefined;
    var deadline_ms: u64 = std.math.maxInt(u64);
    try testing.expectEqual(@as(u32, 2), table.waiting(3, 8000, &fds, &deadline_ms));
    try testing.expectEqual(@as(u64, 100), deadline_ms);
    try testing.expectEqual(@as(u32, 0), table.waiting(3, 8001, &fds, &deadline_ms));

    const entry = table.find(6).?;
    const pieces = [_]usize{ 1, 36, 62 };
    for (pieces) |piece| {
        @memset(entry.missing()[0..piece], 0xab);
        try testing.expect(!entry.received(piece));
    }
    try testing.expectEqual(@as(usize, 1), entry.missing().len);
    try testing.expect(table.take_complete(3, 8000) == null);
    entry.missing()[0] = 0xcd;
    try testing.expect(entry.received(1));
    try testing.expectEqual(@as(usize, 0), entry.missing().len);
    // A whole PROOF no longer waits for bytes, and only its own listener takes it.
    try testing.expectEqual(@as(u32, 1), table.waiting(3, 8000, &fds, &deadline_ms));
    try testing.expect(table.take_complete(4, 8000) == null);
    const done = table.take_complete(3, 8000) orelse return error.TestExpectedComplete;
    try testing.expectEqual(@as(c_int, 6), done.fd);
    try testing.expectEqual(@as(u8, 0xab), done.proof[0]);
    try testing.expectEqual(@as(u8, 0xcd), done.proof[gsa1.proof_size - 1]);
    try testing.expect(table.find(6) == null);
    try testing.expectEqual(@as(u32, 2), table.count());
}

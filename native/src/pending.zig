//! The listening side's peers between the kernel's backlog and the program: connections
//! accept() took from the kernel before the tunnel's answer was known (undecided: no
//! HELLO yet, the library's thread waits for the answer), connections sent a HELLO whose
//! PROOF has not fully arrived yet (waiting), and connections that passed GSA1 and wait
//! for the program's next accept() (passed).
//!
//! One fixed table per process, guarded by fd_table.lock (which init.zig's fork handlers
//! already take and reset). Each entry belongs to a listener (its fd and local port: a
//! listener's number can be reused, close() is not hooked). A waiting entry has a
//! deadline. When the table is full the oldest waiting entry makes room: a silent peer
//! loses its place, a good client that keeps arriving wins; a passed peer is never
//! dropped for a new one. The PROOF may arrive in pieces; each entry keeps its own. The
//! table never touches a socket: callers close what it hands back.

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
    /// Passed GSA1 (or needs none): waits for the program's accept().
    passed: bool = false,
    /// Taken before the tunnel's answer was known: no HELLO sent yet.
    undecided: bool = false,

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

    pub const Added = union(enum) {
        added,
        /// The oldest waiting entry, dropped to make room: its socket is the caller's.
        dropped: Handshake,
        /// Every entry has passed and waits for accept(): nothing was added.
        full,
    };

    /// Adds handshake, making room by dropping the oldest waiting entry when needed.
    pub fn add(table: *Table, handshake: Handshake) Added {
        assert(handshake.fd >= 0);
        assert(handshake.proof_len == 0 or handshake.passed);
        var oldest: ?usize = null;
        for (table.sequences, 0..) |sequence, index| {
            if (sequence == 0) {
                table.put(index, handshake);
                return .added;
            }
            if (table.entries[index].passed) continue;
            if (oldest == null or sequence < table.sequences[oldest.?]) oldest = index;
        }
        const index = oldest orelse return .full;
        const dropped = table.entries[index];
        table.put(index, handshake);
        return .{ .dropped = dropped };
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

    /// Removes the waiting entries whose deadline has passed, putting their fds into fds;
    /// returns how many (fds has room for every entry).
    pub fn take_expired(table: *Table, now_ms: u64, fds: *[handshakes_max]c_int) u32 {
        var taken: u32 = 0;
        for (table.entries, &table.sequences) |entry, *sequence| {
            if (sequence.* == 0 or entry.passed or entry.deadline_ms > now_ms) continue;
            sequence.* = 0;
            fds[taken] = entry.fd;
            taken += 1;
        }
        assert(taken <= handshakes_max);
        return taken;
    }

    /// Removes and returns the listener's oldest passed peer.
    pub fn take_passed(table: *Table, listener_fd: c_int, port: u16) ?Handshake {
        var found: ?usize = null;
        for (table.entries, table.sequences, 0..) |entry, sequence, index| {
            if (sequence == 0 or !entry.passed) continue;
            if (!entry.belongs_to(listener_fd, port)) continue;
            if (found == null or sequence < table.sequences[found.?]) found = index;
        }
        const index = found orelse return null;
        table.sequences[index] = 0;
        return table.entries[index];
    }

    /// How many passed peers of the listener wait for accept().
    pub fn count_passed(table: *const Table, listener_fd: c_int, port: u16) u32 {
        var total: u32 = 0;
        for (table.entries, table.sequences) |entry, sequence| {
            if (sequence == 0 or !entry.passed) continue;
            total += @intFromBool(entry.belongs_to(listener_fd, port));
        }
        return total;
    }

    /// Removes every undecided entry into out; returns how many.
    pub fn take_undecided(table: *Table, out: *[handshakes_max]Handshake) u32 {
        var taken: u32 = 0;
        for (table.entries, &table.sequences) |entry, *sequence| {
            if (sequence.* == 0 or !entry.undecided) continue;
            sequence.* = 0;
            out[taken] = entry;
            taken += 1;
        }
        return taken;
    }

    /// Fills fds with every entry still waiting for PROOF bytes; returns how many and,
    /// through deadline_ms, the nearest deadline of those and of undecided entries
    /// (unchanged when none).
    pub fn waiting(table: *const Table, fds: *[handshakes_max]c_int, deadline_ms: *u64) u32 {
        var taken: u32 = 0;
        for (table.entries, table.sequences) |entry, sequence| {
            if (sequence == 0 or entry.passed) continue;
            if (entry.undecided) {
                deadline_ms.* = @min(deadline_ms.*, entry.deadline_ms);
                continue;
            }
            fds[taken] = entry.fd;
            taken += 1;
            deadline_ms.* = @min(deadline_ms.*, entry.deadline_ms);
        }
        assert(taken <= handshakes_max);
        return taken;
    }

    /// One passed entry per listener that has any, into out; returns how many.
    pub fn passed_listeners(table: *const Table, out: *[handshakes_max]Handshake) u32 {
        var count_out: u32 = 0;
        for (table.entries, table.sequences) |entry, sequence| {
            if (sequence == 0 or !entry.passed) continue;
            const seen = for (out[0..count_out]) |known| {
                if (known.belongs_to(entry.listener_fd, entry.listener_port)) break true;
            } else false;
            if (seen) continue;
            out[count_out] = entry;
            count_out += 1;
        }
        return count_out;
    }

    /// Removes every entry of the listener (its socket is gone), fds into fds.
    pub fn take_listener(
        table: *Table,
        listener_fd: c_int,
        port: u16,
        fds: *[handshakes_max]c_int,
    ) u32 {
        var taken: u32 = 0;
        for (table.entries, &table.sequences) |entry, *sequence| {
            if (sequence.* == 0 or !entry.belongs_to(listener_fd, port)) continue;
            sequence.* = 0;
            fds[taken] = entry.fd;
            taken += 1;
        }
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

test "a full table drops its oldest waiting entry for a new one, never a passed one" {
    var table: Table = .{};
    for (0..handshakes_max) |index| {
        try testing.expect(table.add(example(@intCast(index + 10), 3, 1000)) == .added);
    }
    try testing.expectEqual(@as(u32, handshakes_max), table.count());
    try testing.expectEqual(@as(c_int, 10), table.add(example(900, 3, 1000)).dropped.fd);
    try testing.expectEqual(@as(c_int, 11), table.add(example(901, 3, 1000)).dropped.fd);
    try testing.expectEqual(@as(u32, handshakes_max), table.count());
    try testing.expect(table.find(10) == null);
    try testing.expect(table.find(900) != null);
    // A slot freed in the middle is reused before anything is dropped.
    _ = table.remove(table.find(100).?);
    try testing.expect(table.add(example(902, 3, 1000)) == .added);
    // The oldest (12) has passed: the next oldest waiting one (13) goes instead.
    table.find(12).?.passed = true;
    try testing.expectEqual(@as(c_int, 13), table.add(example(903, 3, 1000)).dropped.fd);
    // All passed: nothing is dropped, the newcomer is refused.
    for (&table.entries, table.sequences) |*entry, sequence| {
        if (sequence != 0) entry.passed = true;
    }
    try testing.expect(table.add(example(904, 3, 1000)) == .full);
    try testing.expectEqual(@as(u32, handshakes_max), table.count_passed(3, 8000));
}

test "waiting entries expire at their deadline and only then; passed ones wait for accept" {
    var table: Table = .{};
    _ = table.add(example(5, 3, 100));
    _ = table.add(example(6, 3, 200));
    _ = table.add(example(7, 4, 300));
    _ = table.add(example(8, 4, 50));
    table.find(8).?.passed = true;
    var fds: [handshakes_max]c_int = undefined;
    try testing.expectEqual(@as(u32, 0), table.take_expired(99, &fds));
    try testing.expectEqual(@as(u32, 2), table.take_expired(200, &fds));
    try testing.expectEqual(@as(c_int, 5), fds[0]);
    try testing.expectEqual(@as(c_int, 6), fds[1]);
    try testing.expectEqual(@as(u32, 2), table.count());
    try testing.expect(table.take_passed(3, 8000) == null);
    try testing.expectEqual(@as(c_int, 8), table.take_passed(4, 8000).?.fd);
    try testing.expectEqual(@as(u32, 1), table.clear(&fds));
    try testing.expectEqual(@as(c_int, 7), fds[0]);
    try testing.expectEqual(@as(u32, 0), table.count());
}

test "a PROOF arriving in pieces completes once whole; passed peers go out oldest first" {
    var table: Table = .{};
    _ = table.add(example(5, 3, 100));
    _ = table.add(example(6, 3, 90));
    _ = table.add(example(7, 4, 100));
    var fds: [handshakes_max]c_int = undefined;
    var deadline_ms: u64 = std.math.maxInt(u64);
    try testing.expectEqual(@as(u32, 3), table.waiting(&fds, &deadline_ms));
    try testing.expectEqual(@as(u64, 90), deadline_ms);

    const entry = table.find(6).?;
    const pieces = [_]usize{ 1, 36, 62 };
    for (pieces) |piece| {
        @memset(entry.missing()[0..piece], 0xab);
        try testing.expect(!entry.received(piece));
    }
    try testing.expectEqual(@as(usize, 1), entry.missing().len);
    entry.missing()[0] = 0xcd;
    try testing.expect(entry.received(1));
    try testing.expectEqual(@as(usize, 0), entry.missing().len);
    entry.passed = true;
    table.find(5).?.passed = true;
    try testing.expectEqual(@as(u32, 1), table.waiting(&fds, &deadline_ms));
    var listeners: [handshakes_max]Handshake = undefined;
    try testing.expectEqual(@as(u32, 1), table.passed_listeners(&listeners));
    try testing.expectEqual(@as(u32, 2), table.count_passed(3, 8000));
    try testing.expectEqual(@as(c_int, 5), table.take_passed(3, 8000).?.fd);
    const done = table.take_passed(3, 8000) orelse return error.TestExpectedPassed;
    try testing.expectEqual(@as(c_int, 6), done.fd);
    try testing.expectEqual(@as(u8, 0xcd), done.proof[gsa1.proof_size - 1]);
    try testing.expectEqual(@as(u32, 1), table.take_listener(4, 8000, &fds));
    try testing.expectEqual(@as(u32, 0), table.count());
}

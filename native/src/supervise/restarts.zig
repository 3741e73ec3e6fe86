//! A tunnel connect runs once per socket, even when a signal interrupts the program's
//! connect() and the program (or SA_RESTART) calls it again: the kernel drops the first
//! notification and sends a new one for the same socket. The second call waits for the
//! first's work and returns its outcome, instead of connecting a connected socket.
//!
//! Sockets are known by inode; outcomes are kept for the last records_max sockets.

const std = @import("std");
const assert = std.debug.assert;
const linux = std.os.linux;
const sync = @import("../sync.zig");
const notify = @import("notify.zig");

pub const records_max = 256;
/// How long a second call waits for the first one's work, at most.
const wait_max_ms = 3_600_000;

const Record = struct {
    inode: u64,
    done: bool,
    outcome: linux.E,
};

var lock: sync.Lock = .{};
var changed: sync.Condition = .{};
var records: [records_max]Record = @splat(.{ .inode = 0, .done = true, .outcome = .SUCCESS });
var next_slot: usize = 0;

fn find(inode: u64) ?*Record {
    for (&records) |*record| {
        if (record.inode == inode) return record;
    }
    return null;
}

pub const Claim = union(enum) {
    /// This call does the work, then calls settle().
    run: Ticket,
    /// An earlier, interrupted call for the same socket did it: its outcome; the caller
    /// answers with it, then calls settle() so that a call interrupted again finds it too.
    done: struct { outcome: linux.E, ticket: Ticket },
};

pub const Ticket = struct { slot: ?usize, inode: u64 };

/// Claims the tunnel connect of socket fd for this call, or returns the outcome of the
/// interrupted call that already made it (waiting for it when it is still running).
pub fn claim(fd: linux.fd_t) Claim {
    const inode = notify.inode_of(fd) orelse return .{ .run = .{ .slot = null, .inode = 0 } };
    lock.lock();
    defer lock.unlock();
    if (find(inode)) |record| {
        var waited: u32 = 0;
        while (!record.done and record.inode == inode and waited < wait_max_ms / 100) : (waited += 1) {
            changed.wait_ms(&lock, 100);
        }
        if (record.inode == inode and record.done) {
            const slot = (@intFromPtr(record) - @intFromPtr(&records)) / @sizeOf(Record);
            return .{ .done = .{
                .outcome = record.outcome,
                .ticket = .{ .slot = slot, .inode = inode },
            } };
        }
        return .{ .done = .{ .outcome = .ALREADY, .ticket = .{ .slot = null, .inode = inode } } };
    }
    const slot = next_slot;
    next_slot = (next_slot + 1) % records_max;
    records[slot] = .{ .inode = inode, .done = false, .outcome = .SUCCESS };
    return .{ .run = .{ .slot = slot, .inode = inode } };
}

/// Ends a claimed connect. When the program saw the outcome the record goes (a later
/// connect on that socket is a new attempt); when a signal took the call away it stays
/// for the restarted call.
pub fn settle(ticket: Ticket, outcome: linux.E, delivered: bool) void {
    assert(outcome != .INPROGRESS);
    const slot = ticket.slot orelse return;
    lock.lock();
    defer lock.unlock();
    const record = &records[slot];
    if (record.inode != ticket.inode) return;
    record.done = true;
    record.outcome = outcome;
    if (delivered) record.inode = 0;
    changed.broadcast();
}

test "a connect claimed once is not made again by an interrupted call's restart" {
    var pair: [2]linux.fd_t = undefined;
    const rc = linux.socketpair(linux.AF.UNIX, linux.SOCK.STREAM | linux.SOCK.CLOEXEC, 0, &pair);
    try std.testing.expectEqual(@as(usize, 0), rc);
    defer _ = linux.close(pair[0]);
    defer _ = linux.close(pair[1]);
    // Undelivered (the signal took the call away): the restart gets the outcome.
    const first = claim(pair[0]).run;
    settle(first, .CONNREFUSED, false);
    const restarted = claim(pair[0]).done;
    try std.testing.expectEqual(linux.E.CONNREFUSED, restarted.outcome);
    // Taken away again before the answer arrived: the next restart still finds it.
    settle(restarted.ticket, restarted.outcome, false);
    const again = claim(pair[0]).done;
    try std.testing.expectEqual(linux.E.CONNREFUSED, again.outcome);
    settle(again.ticket, again.outcome, true);
    // Delivered: the next connect on that socket is a new attempt.
    const second = claim(pair[0]).run;
    settle(second, .SUCCESS, true);
    try std.testing.expect(claim(pair[0]) == .run);
}

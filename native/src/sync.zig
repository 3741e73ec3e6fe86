//! A pthread mutex that fork() cannot leave locked in the child.
//!
//! init.zig's pthread_atfork handlers take every module's lock before fork, release them
//! in the parent, and re-initialise them in the child, where the threads that held them
//! do not exist.

const std = @import("std");
const assert = std.debug.assert;
const sys = @import("sys.zig");

pub const Lock = struct {
    mutex: sys.pthread_mutex_t = .{},

    pub fn lock(self: *Lock) void {
        const rc = sys.pthread_mutex_lock(&self.mutex);
        assert(rc == 0);
    }

    pub fn unlock(self: *Lock) void {
        const rc = sys.pthread_mutex_unlock(&self.mutex);
        assert(rc == 0);
    }

    /// Only for the child after fork(): the mutex as if never used.
    pub fn reset(self: *Lock) void {
        self.mutex = .{};
    }
};

/// A condition variable paired with a Lock.
pub const Condition = struct {
    cond: sys.pthread_cond_t = .{},

    pub fn broadcast(self: *Condition) void {
        const rc = sys.pthread_cond_broadcast(&self.cond);
        assert(rc == 0);
    }

    /// Waits at most timeout_ms; spurious wake-ups are the caller's to handle.
    pub fn wait_ms(self: *Condition, held: *Lock, timeout_ms: u32) void {
        var now: sys.timespec = undefined;
        const rc = sys.clock_gettime(sys.CLOCK_REALTIME, &now);
        assert(rc == 0);
        const total_ns = @as(i64, now.nsec) + @as(i64, timeout_ms % 1000) * 1_000_000;
        const until: sys.timespec = .{
            .sec = now.sec + @as(isize, @intCast(timeout_ms / 1000)) + @as(
                isize,
                @intCast(@divTrunc(total_ns, 1_000_000_000)),
            ),
            .nsec = @intCast(@mod(total_ns, 1_000_000_000)),
        };
        _ = sys.pthread_cond_timedwait(&self.cond, &held.mutex, &until);
    }

    pub fn reset(self: *Condition) void {
        self.cond = .{};
    }
};

//! Threads for the notifications that wait (a tunnel connect): the main loop hands them
//! off and goes on answering the others. A pool: threads stay and take queued jobs, a
//! new one starts only when none is idle (at most workers_max), so a connect pays a
//! wake-up, not a thread's creation. A full queue, or no thread at all, runs the job on
//! the calling thread: slower, never dropped.

const std = @import("std");
const assert = std.debug.assert;
const sync = @import("../sync.zig");
const threads_ = @import("threads.zig");
const sys = @import("../sys.zig");

pub const workers_max = 256;
pub const queue_max = 1024;
const stack_bytes = 256 * 1024;
/// How long an idle thread waits before checking again (it never exits).
const idle_wait_ms = 60_000;

pub fn Pool(comptime Job: type, comptime run: fn (Job) void) type {
    return struct {
        var lock: sync.Lock = .{};
        var queued: sync.Condition = .{};
        var queue: [queue_max]Job = undefined;
        var head: usize = 0;
        var count: usize = 0;
        var idle: u32 = 0;
        var threads: u32 = 0;

        /// Runs run(job) on a pool thread, or here when that cannot be.
        pub fn start(job: Job) void {
            lock.lock();
            if (count == queue_max) {
                lock.unlock();
                return run(job);
            }
            queue[(head + count) % queue_max] = job;
            count += 1;
            if (idle < count and threads < workers_max) {
                if (threads_.start_detached(work, stack_bytes)) threads += 1;
            }
            if (threads == 0) {
                // No thread could start: take the job back and run it here.
                count -= 1;
                lock.unlock();
                return run(job);
            }
            queued.broadcast();
            lock.unlock();
        }

        fn work() void {
            lock.lock();
            while (true) {
                while (count == 0) {
                    idle += 1;
                    queued.wait_ms(&lock, idle_wait_ms);
                    idle -= 1;
                }
                assert(count > 0);
                const job = queue[head];
                head = (head + 1) % queue_max;
                count -= 1;
                lock.unlock();
                run(job);
                lock.lock();
            }
        }
    };
}

var finished = std.atomic.Value(u32).init(0);

fn count_one(value: u32) void {
    _ = finished.fetchAdd(value, .acq_rel);
}

test "every job handed to the pool runs" {
    const pool = Pool(u32, count_one);
    for (0..500) |_| pool.start(1);
    var waited_ms: u32 = 0;
    while (finished.load(.acquire) < 500 and waited_ms < 10_000) : (waited_ms += 1) {
        sys.sleep_ms(1);
    }
    try std.testing.expectEqual(@as(u32, 500), finished.load(.acquire));
}

//! Threads for the notifications that wait (a tunnel connect, an accept): the main loop
//! hands them off and goes on answering the others. Bounded by workers_max; beyond it a
//! notification is served on the calling thread, slower but never dropped.

const std = @import("std");

pub const workers_max = 512;
const stack_bytes = 256 * 1024;

var running = std.atomic.Value(u32).init(0);

/// Runs function(args) on a detached thread, or here when workers_max are busy.
pub fn start(comptime function: anytype, args: anytype) void {
    if (running.fetchAdd(1, .acq_rel) >= workers_max) {
        _ = running.fetchSub(1, .acq_rel);
        @call(.auto, function, args);
        return;
    }
    const Wrapper = struct {
        fn run(inner: @TypeOf(args)) void {
            defer _ = running.fetchSub(1, .acq_rel);
            @call(.auto, function, inner);
        }
    };
    const thread = std.Thread.spawn(.{ .stack_size = stack_bytes }, Wrapper.run, .{args}) catch {
        _ = running.fetchSub(1, .acq_rel);
        @call(.auto, function, args);
        return;
    };
    thread.detach();
}

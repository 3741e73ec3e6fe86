//! Detached threads from pthread_create directly: std.Thread.spawn treats some of its
//! errors as unreachable, and a supervisor that cannot start a thread must carry on
//! (the caller then does the work itself), never abort the supervised program's calls.

const std = @import("std");

/// pthread_attr_t is 56 bytes on LP64 in both glibc and musl; kept with room to spare.
const Attributes = extern struct { storage: [128]u8 align(8) = @splat(0) };
const Handle = usize;
const Start = *const fn (?*anyopaque) callconv(.c) ?*anyopaque;

extern "c" fn pthread_attr_init(attributes: *Attributes) c_int;
extern "c" fn pthread_attr_destroy(attributes: *Attributes) c_int;
extern "c" fn pthread_attr_setstacksize(attributes: *Attributes, size: usize) c_int;
extern "c" fn pthread_attr_setdetachstate(attributes: *Attributes, state: c_int) c_int;
extern "c" fn pthread_create(handle: *Handle, attributes: *const Attributes, start: Start, argument: ?*anyopaque) c_int;

const detached_state: c_int = 1; // PTHREAD_CREATE_DETACHED in glibc and musl

/// Starts function on a new detached thread with stack_bytes of stack; false when the
/// thread could not be made.
pub fn start_detached(comptime function: fn () void, stack_bytes: usize) bool {
    const Entry = struct {
        fn run(_: ?*anyopaque) callconv(.c) ?*anyopaque {
            function();
            return null;
        }
    };
    // glibc takes the static TLS out of the stack and refuses (EINVAL) a stack it does
    // not fit: then once more with room for it.
    const einval: c_int = 22;
    const rc = create(Entry.run, stack_bytes);
    if (rc == einval) return create(Entry.run, stack_bytes + tls_room_bytes) == 0;
    return rc == 0;
}

const tls_room_bytes = 4 * 1024 * 1024;

fn create(start: Start, stack_bytes: usize) c_int {
    var attributes: Attributes = .{};
    if (pthread_attr_init(&attributes) != 0) return -1;
    defer _ = pthread_attr_destroy(&attributes);
    if (pthread_attr_setstacksize(&attributes, stack_bytes) != 0) return -1;
    if (pthread_attr_setdetachstate(&attributes, detached_state) != 0) return -1;
    var handle: Handle = 0;
    return pthread_create(&handle, &attributes, start, null);
}

var ran = std.atomic.Value(u32).init(0);

fn mark_ran() void {
    _ = ran.fetchAdd(1, .acq_rel);
}

test "a detached thread runs" {
    try std.testing.expect(start_detached(mark_ran, 64 * 1024));
    var waited: u32 = 0;
    while (ran.load(.acquire) == 0 and waited < 5000) : (waited += 1) {
        @import("../sys.zig").sleep_ms(1);
    }
    try std.testing.expectEqual(@as(u32, 1), ran.load(.acquire));
}

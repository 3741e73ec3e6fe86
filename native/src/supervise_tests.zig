//! The unit tests of the supervisor's modules (its root, supervise_main.zig, exports
//! main and so cannot be a test root).

test {
    _ = @import("supervise/filter.zig");
    _ = @import("supervise/notify.zig");
    _ = @import("supervise/tunnels.zig");
    _ = @import("supervise/hosts.zig");
    _ = @import("supervise/launch.zig");
    _ = @import("supervise/outbound.zig");
    _ = @import("supervise/restarts.zig");
    _ = @import("supervise/inbound.zig");
    _ = @import("supervise/workers.zig");
    _ = @import("supervise/threads.zig");
}

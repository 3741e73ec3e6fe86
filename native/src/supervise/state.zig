//! What every part of the supervisor reads: the notification listener, the launcher's
//! configuration (the same variables the preload library reads, environment.zig) and the
//! listener contact the launcher found before the program started.

const std = @import("std");
const conf = @import("../environment.zig");
const contact = @import("../contact.zig");

/// The seccomp notification descriptor.
pub var listener: std.os.linux.fd_t = -1;
pub var settings: conf.Conf = .{};
/// GLOBUS_STREAMS_LISTENER_CONTACT, used until the first own lookup answers.
pub var cold_listener: ?contact.Address = null;

/// Fills settings from the environment entries.
pub fn load(environment: []const [*:0]const u8) void {
    for (environment) |entry| {
        const text = std.mem.span(entry);
        settings.apply(text);
        const prefix = "GLOBUS_STREAMS_LISTENER_CONTACT=";
        if (std.mem.startsWith(u8, text, prefix)) {
            const parsed = contact.Contact.parse(text[prefix.len..]) orelse continue;
            cold_listener = contact.Address.from_text(parsed.host_text(), parsed.port);
        }
    }
}

//! The library's modules without hooks, as one import (`@import("streams")`) for the code
//! outside src/: the fuzzers and the GSA1 vector tests in native/fuzz/.

pub const gsa1 = @import("gsa1.zig");
pub const handshake = @import("handshake.zig");
pub const answer = @import("answer.zig");
pub const contact = @import("contact.zig");
pub const names = @import("names.zig");
pub const environment = @import("environment.zig");
pub const log = @import("log.zig");
pub const sys = @import("sys.zig");

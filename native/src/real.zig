//! The libc functions this library stands in front of, resolved once with
//! dlsym(RTLD_NEXT) in init.zig. Every hook reaches libc only through here.
//!
//! Required symbols exist in every glibc since 2.17; if one is missing the hook fails
//! with ENOSYS (EAI_SYSTEM) instead of crashing. Optional ones are only used when found.

const std = @import("std");
const sys = @import("sys.zig");
const log = @import("log.zig");

pub const Connect = *const fn (c_int, ?*const sys.sockaddr, sys.socklen_t) callconv(.c) c_int;
pub const Bind = *const fn (c_int, ?*const sys.sockaddr, sys.socklen_t) callconv(.c) c_int;
pub const Listen = *const fn (c_int, c_int) callconv(.c) c_int;
pub const SetSockOpt = *const fn (c_int, c_int, c_int, ?*const anyopaque, sys.socklen_t) callconv(.c) c_int;
pub const Accept = *const fn (c_int, ?*sys.sockaddr, ?*sys.socklen_t) callconv(.c) c_int;
pub const Accept4 = *const fn (c_int, ?*sys.sockaddr, ?*sys.socklen_t, c_int) callconv(.c) c_int;
pub const GetAddrInfo = *const fn (
    ?[*:0]const u8,
    ?[*:0]const u8,
    ?*const sys.addrinfo,
    ?*?*sys.addrinfo,
) callconv(.c) c_int;
pub const SendTo = *const fn (
    c_int,
    ?*const anyopaque,
    usize,
    c_int,
    ?*const sys.sockaddr,
    sys.socklen_t,
) callconv(.c) isize;
pub const SendMsg = *const fn (c_int, ?*const sys.msghdr, c_int) callconv(.c) isize;
pub const GetHostByName = *const fn (?[*:0]const u8) callconv(.c) ?*sys.hostent;
pub const GetHostByName2 = *const fn (?[*:0]const u8, c_int) callconv(.c) ?*sys.hostent;
pub const GetHostByNameR = *const fn (
    ?[*:0]const u8,
    ?*sys.hostent,
    ?[*]u8,
    usize,
    ?*?*sys.hostent,
    ?*c_int,
) callconv(.c) c_int;

const Symbol = struct {
    name: [:0]const u8,
    required: bool,
};

/// Field name = symbol name; keep in step with `functions`.
const symbols = [_]Symbol{
    .{ .name = "connect", .required = true },
    .{ .name = "bind", .required = true },
    .{ .name = "listen", .required = true },
    .{ .name = "setsockopt", .required = true },
    .{ .name = "accept", .required = true },
    .{ .name = "accept4", .required = false },
    .{ .name = "getaddrinfo", .required = true },
    .{ .name = "sendto", .required = true },
    .{ .name = "sendmsg", .required = true },
    .{ .name = "gethostbyname", .required = false },
    .{ .name = "gethostbyname2", .required = false },
    .{ .name = "gethostbyname_r", .required = false },
};

pub const Functions = struct {
    connect: ?Connect = null,
    bind: ?Bind = null,
    listen: ?Listen = null,
    setsockopt: ?SetSockOpt = null,
    accept: ?Accept = null,
    accept4: ?Accept4 = null,
    getaddrinfo: ?GetAddrInfo = null,
    sendto: ?SendTo = null,
    sendmsg: ?SendMsg = null,
    gethostbyname: ?GetHostByName = null,
    gethostbyname2: ?GetHostByName2 = null,
    gethostbyname_r: ?GetHostByNameR = null,
};

comptime {
    std.debug.assert(symbols.len == @typeInfo(Functions).@"struct".field_names.len);
    for (symbols) |symbol| std.debug.assert(@hasField(Functions, symbol.name));
}

pub var functions: Functions = .{};

/// glibc's RTLD_NEXT, ((void *) -1).
const rtld_next: ?*anyopaque = @ptrFromInt(std.math.maxInt(usize));

/// Called once from init.zig.
pub fn resolve() void {
    inline for (symbols) |symbol| {
        const found = sys.dlsym(rtld_next, symbol.name);
        if (found) |pointer| {
            @field(functions, symbol.name) = @ptrCast(@alignCast(pointer));
        } else if (symbol.required) {
            log.line(
                .init,
                "cannot find {s} in libc: calls to it fail with ENOSYS",
                .{symbol.name},
            );
        }
    }
}

//! The seccomp filter the supervised program runs under: classic BPF that sends the
//! calls which set connections up to the supervisor (SECCOMP_RET_USER_NOTIF) and lets
//! every other call through (SECCOMP_RET_ALLOW), reads and writes included.
//!
//! Trapped: connect; sendto/sendmsg only when their flags hold MSG_FASTOPEN; with names
//! to serve, open/openat/openat2 (the supervisor answers opens of /etc/hosts); with
//! listening ports, accept/accept4. A call from another architecture (a 32-bit
//! int 0x80 call on x86_64, or x32 numbers) fails with ENOSYS, so no call can reach
//! connect() under a number the filter does not know. io_uring_setup fails with ENOSYS
//! too (as on a kernel without io_uring, so programs fall back to plain calls): an
//! IORING_OP_CONNECT or IORING_OP_ACCEPT is no system call, and would pass the filter.

const std = @import("std");
const assert = std.debug.assert;
const linux = std.os.linux;
const seccomp = linux.SECCOMP;

pub const Arch = enum { x86_64, aarch64 };

/// AUDIT_ARCH_* values from <linux/audit.h>.
const audit_arch_x86_64: u32 = 0xC000003E;
const audit_arch_aarch64: u32 = 0xC00000B7;
const x32_syscall_bit: u32 = 0x40000000;
pub const msg_fastopen: u32 = 0x20000000;

/// The call numbers the filter looks at, per architecture (asm/unistd.h).
pub const Numbers = struct {
    audit_arch: u32,
    connect: u32,
    accept: u32,
    accept4: u32,
    sendto: u32,
    sendmsg: u32,
    /// x86_64 only; aarch64 has no open(2).
    open: ?u32,
    openat: u32,
    openat2: u32,
    io_uring_setup: u32,
};

pub fn numbers(arch: Arch) Numbers {
    return switch (arch) {
        .x86_64 => .{
            .audit_arch = audit_arch_x86_64,
            .connect = 42,
            .accept = 43,
            .accept4 = 288,
            .sendto = 44,
            .sendmsg = 46,
            .open = 2,
            .openat = 257,
            .openat2 = 437,
            .io_uring_setup = 425,
        },
        .aarch64 => .{
            .audit_arch = audit_arch_aarch64,
            .connect = 203,
            .accept = 202,
            .accept4 = 242,
            .sendto = 206,
            .sendmsg = 211,
            .open = null,
            .openat = 56,
            .openat2 = 437,
            .io_uring_setup = 425,
        },
    };
}

pub const native_arch: Arch = switch (@import("builtin").cpu.arch) {
    .x86_64 => .x86_64,
    .aarch64 => .aarch64,
    else => @compileError("the supervisor supports x86_64 and aarch64"),
};

comptime {
    // The native numbers must agree with the standard library's table.
    const own = numbers(native_arch);
    assert(own.connect == @backingInt(linux.SYS.connect));
    assert(own.accept4 == @backingInt(linux.SYS.accept4));
    assert(own.sendmsg == @backingInt(linux.SYS.sendmsg));
    assert(own.openat == @backingInt(linux.SYS.openat));
    assert(own.io_uring_setup == @backingInt(linux.SYS.io_uring_setup));
}

pub const Options = struct {
    /// Trap open/openat/openat2 (names for programs that read /etc/hosts themselves).
    names: bool,
    /// Trap accept/accept4 (listening ports).
    listening: bool,
};

pub const Instruction = extern struct {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
};

pub const Program = extern struct {
    len: u16,
    filter: [*]const Instruction,
};

pub const instructions_max = 32;

pub const Filter = struct {
    code: [instructions_max]Instruction,
    len: usize,

    pub fn program(filter: *const Filter) Program {
        return .{ .len = @intCast(filter.len), .filter = &filter.code };
    }
};

// Classic BPF opcodes (linux/bpf_common.h).
const ld_w_abs: u16 = 0x00 | 0x00 | 0x20; // BPF_LD | BPF_W | BPF_ABS
const jmp_jeq_k: u16 = 0x05 | 0x10; // BPF_JMP | BPF_JEQ | BPF_K
const jmp_jset_k: u16 = 0x05 | 0x40; // BPF_JMP | BPF_JSET | BPF_K
const ret_k: u16 = 0x06; // BPF_RET | BPF_K

const offset_nr = @offsetOf(seccomp.data, "nr");
const offset_arch = @offsetOf(seccomp.data, "arch");

/// Offset of the low 32 bits of argument index (both architectures are little-endian).
fn offset_arg_low(index: u32) u32 {
    assert(index < 6);
    return @offsetOf(seccomp.data, "arg0") + 8 * index;
}

const Target = enum { allow, sendto_flags, sendmsg_flags, notify, allow_late, enosys };

const Builder = struct {
    code: [instructions_max]Instruction = undefined,
    /// Where each conditional jump goes when true / false (null: the next instruction).
    when_true: [instructions_max]?Target = @splat(null),
    when_false: [instructions_max]?Target = @splat(null),
    blocks: std.enums.EnumArray(Target, ?usize) = .initFill(null),
    len: usize = 0,

    fn emit(builder: *Builder, code: u16, k: u32) usize {
        assert(builder.len < instructions_max);
        builder.code[builder.len] = .{ .code = code, .jt = 0, .jf = 0, .k = k };
        builder.len += 1;
        return builder.len - 1;
    }

    fn jump(builder: *Builder, code: u16, k: u32, when_true: ?Target, when_false: ?Target) void {
        const at = builder.emit(code, k);
        builder.when_true[at] = when_true;
        builder.when_false[at] = when_false;
    }

    fn block(builder: *Builder, target: Target) void {
        assert(builder.blocks.get(target) == null);
        builder.blocks.set(target, builder.len);
    }

    /// Classic BPF only jumps forward: every target must come after its jump.
    fn distance(builder: *const Builder, from: usize, target: ?Target) u8 {
        const to = builder.blocks.get(target orelse return 0).?;
        assert(to > from);
        assert(to - from - 1 <= std.math.maxInt(u8));
        return @intCast(to - from - 1);
    }

    fn finish(builder: *Builder) Filter {
        for (0..builder.len) |at| {
            builder.code[at].jt = builder.distance(at, builder.when_true[at]);
            builder.code[at].jf = builder.distance(at, builder.when_false[at]);
        }
        return .{ .code = builder.code, .len = builder.len };
    }
};

/// Builds the filter for arch with options.
pub fn build(arch: Arch, options: Options) Filter {
    const n = numbers(arch);
    var b: Builder = .{};
    _ = b.emit(ld_w_abs, offset_arch);
    b.jump(jmp_jeq_k, n.audit_arch, null, .enosys);
    _ = b.emit(ld_w_abs, offset_nr);
    if (arch == .x86_64) b.jump(jmp_jset_k, x32_syscall_bit, .enosys, null);
    b.jump(jmp_jeq_k, n.io_uring_setup, .enosys, null);
    b.jump(jmp_jeq_k, n.connect, .notify, null);
    b.jump(jmp_jeq_k, n.sendto, .sendto_flags, null);
    b.jump(jmp_jeq_k, n.sendmsg, .sendmsg_flags, null);
    if (options.listening) {
        b.jump(jmp_jeq_k, n.accept, .notify, null);
        b.jump(jmp_jeq_k, n.accept4, .notify, null);
    }
    if (options.names) {
        if (n.open) |open| b.jump(jmp_jeq_k, open, .notify, null);
        b.jump(jmp_jeq_k, n.openat, .notify, null);
        b.jump(jmp_jeq_k, n.openat2, .notify, null);
    }
    b.block(.allow);
    _ = b.emit(ret_k, seccomp.RET.ALLOW);
    b.block(.sendto_flags);
    _ = b.emit(ld_w_abs, offset_arg_low(3));
    b.jump(jmp_jset_k, msg_fastopen, .notify, .allow_late);
    b.block(.sendmsg_flags);
    _ = b.emit(ld_w_abs, offset_arg_low(2));
    b.jump(jmp_jset_k, msg_fastopen, .notify, .allow_late);
    b.block(.notify);
    _ = b.emit(ret_k, seccomp.RET.USER_NOTIF);
    b.block(.allow_late);
    _ = b.emit(ret_k, seccomp.RET.ALLOW);
    b.block(.enosys);
    _ = b.emit(ret_k, seccomp.RET.ERRNO | @as(u32, @backingInt(linux.E.NOSYS)));
    return b.finish();
}

/// Runs filter on one call, the way the kernel would (for the unit tests): the action.
pub fn run(filter: *const Filter, syscall: *const seccomp.data) u32 {
    const bytes = std.mem.asBytes(syscall);
    var accumulator: u32 = 0;
    var pc: usize = 0;
    while (pc < filter.len) {
        const instruction = filter.code[pc];
        switch (instruction.code) {
            ld_w_abs => accumulator = std.mem.readInt(u32, bytes[instruction.k..][0..4], .little),
            jmp_jeq_k, jmp_jset_k => {
                const taken = if (instruction.code == jmp_jeq_k)
                    accumulator == instruction.k
                else
                    accumulator & instruction.k != 0;
                pc += @as(usize, if (taken) instruction.jt else instruction.jf);
            },
            ret_k => return instruction.k,
            else => unreachable,
        }
        pc += 1;
    }
    unreachable;
}

const testing = std.testing;

fn call(arch: Arch, nr: u32, args: [6]u64) seccomp.data {
    return .{
        .nr = @bitCast(nr),
        .arch = numbers(arch).audit_arch,
        .instruction_pointer = 0,
        .arg0 = args[0],
        .arg1 = args[1],
        .arg2 = args[2],
        .arg3 = args[3],
        .arg4 = args[4],
        .arg5 = args[5],
    };
}

test "only the calls that set connections up reach the supervisor, on both architectures" {
    const notify = seccomp.RET.USER_NOTIF;
    const allow = seccomp.RET.ALLOW;
    for ([_]Arch{ .x86_64, .aarch64 }) |arch| {
        const n = numbers(arch);
        const all = build(arch, .{ .names = true, .listening = true });
        const none = build(arch, .{ .names = false, .listening = false });
        const zero: [6]u64 = @splat(0);
        try testing.expectEqual(notify, run(&all, &call(arch, n.connect, zero)));
        try testing.expectEqual(notify, run(&none, &call(arch, n.connect, zero)));
        try testing.expectEqual(notify, run(&all, &call(arch, n.accept4, zero)));
        try testing.expectEqual(allow, run(&none, &call(arch, n.accept4, zero)));
        try testing.expectEqual(notify, run(&all, &call(arch, n.openat, zero)));
        try testing.expectEqual(allow, run(&none, &call(arch, n.openat, zero)));
        const fastopen_sendto = [6]u64{ 3, 0, 10, msg_fastopen | 0x4000, 0, 0 };
        try testing.expectEqual(notify, run(&none, &call(arch, n.sendto, fastopen_sendto)));
        try testing.expectEqual(allow, run(&none, &call(arch, n.sendto, .{ 3, 0, 10, 0x4000, 0, 0 })));
        const fastopen_sendmsg = [6]u64{ 3, 0, msg_fastopen, 0, 0, 0 };
        try testing.expectEqual(notify, run(&none, &call(arch, n.sendmsg, fastopen_sendmsg)));
        try testing.expectEqual(allow, run(&none, &call(arch, n.sendmsg, zero)));
        // read/write and friends never trap: 0 (x86_64 read) and 63/64 (aarch64 read/write).
        for ([_]u32{ 0, 1, 63, 64 }) |nr| try testing.expectEqual(allow, run(&all, &call(arch, nr, zero)));
        var foreign = call(arch, n.connect, zero);
        foreign.arch = 0x40000003; // AUDIT_ARCH_I386
        const enosys = seccomp.RET.ERRNO | @as(u32, @backingInt(linux.E.NOSYS));
        try testing.expectEqual(enosys, run(&all, &foreign));
        // io_uring would carry connects and accepts past the filter: it is "not there".
        try testing.expectEqual(enosys, run(&none, &call(arch, n.io_uring_setup, zero)));
    }
    const x32_connect = call(.x86_64, x32_syscall_bit | 42, @splat(0));
    const x86 = build(.x86_64, .{ .names = false, .listening = false });
    try testing.expectEqual(seccomp.RET.ERRNO | 38, run(&x86, &x32_connect));
    try testing.expectEqual(@as(u32, 42), numbers(.x86_64).connect);
    try testing.expectEqual(@as(u32, 203), numbers(.aarch64).connect);
}

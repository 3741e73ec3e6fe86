//! Answers per tunnel, kept in-process until they go stale (ttl_seconds).
//!
//! Threads asking for the same tunnel wait for one lookup: the first marks the entry
//! `looking` and runs the binary without holding the lock; the others wait on the
//! condition. A failed lookup is remembered, and not tried again, for a back-off that
//! starts at the lookup timeout and doubles with each failure in a row (up to
//! failure_backoff_max_ms), so a program that keeps resolving does not start the
//! binary in a loop, and a hung service costs one timeout per back-off, not per call.
//! The last good answer is kept through refreshes and failures: peek() serves it at
//! once and refreshes a stale one on a thread of its own.

const std = @import("std");
const assert = std.debug.assert;
const sys = @import("sys.zig");
const sync = @import("sync.zig");
const names = @import("names.zig");
const answer = @import("answer.zig");
const lookup = @import("lookup.zig");
const contact = @import("contact.zig");
const thread = @import("thread.zig");

pub const tunnels_max = 16;
pub const failure_backoff_max_ms = 5 * 60 * 1000;
const wait_slice_ms = 100;
/// Wake-ups are shared by all tunnels, so rounds are not time: the deadline ends a wait,
/// this only bounds the loop.
const get_rounds_max = 1 << 16;

pub const Problem = struct {
    kind: Kind,
    /// The exit code for exit_status; the answer.Error for bad_answer.
    exit_code: c_int = 0,
    answer_error: ?answer.Error = null,

    pub const Kind = enum { no_binary, spawn_failed, timeout, exit_status, bad_answer, busy };

    pub fn describe(problem: Problem, buffer: []u8) []const u8 {
        return switch (problem.kind) {
            .no_binary => "cannot find the globus-streams binary (set GLOBUS_STREAMS_BIN or PATH)",
            .spawn_failed => "cannot start the globus-streams binary",
            .timeout => "the lookup did not finish in time (GLOBUS_STREAMS_LOOKUP_TIMEOUT)",
            .exit_status => std.fmt.bufPrint(
                buffer,
                "globus-streams contact-lookup exited with status {d}",
                .{problem.exit_code},
            ) catch "lookup failed",
            .bad_answer => std.fmt.bufPrint(
                buffer,
                "cannot read the lookup answer: {s}",
                .{@errorName(problem.answer_error orelse error.NotKeyValue)},
            ) catch "bad answer",
            .busy => "too many tunnels in use by this process",
        };
    }
};

/// The lookup, replaceable by tests.
pub const Runner = *const fn (*const names.TunnelId, *[answer.answer_bytes_max]u8) lookup.Output;
pub var runner: Runner = &run_binary;

fn run_binary(tunnel: *const names.TunnelId, buffer: *[answer.answer_bytes_max]u8) lookup.Output {
    const conf = &@import("environment.zig").global;
    return lookup.run(tunnel, conf.bin_path(), conf.lookup_timeout_ms, buffer);
}

const State = enum { idle, looking, ready, failed };

const Entry = struct {
    claimed: bool = false,
    id: names.TunnelId = undefined,
    state: State = .idle,
    /// Valid once has_answer; kept while a refresh runs or fails, for matching.
    answer: answer.Answer = undefined,
    has_answer: bool = false,
    problem: Problem = .{ .kind = .busy },
    until_ms: u64 = 0,
    /// Failed lookups in a row, for the back-off.
    failures: u8 = 0,
    /// The binary's output; only the thread that set state = looking touches it.
    output: [answer.answer_bytes_max]u8 = undefined,
};

var entries: [tunnels_max]Entry = @splat(.{});
pub var lock: sync.Lock = .{};
var changed: sync.Condition = .{};

/// A fresh answer for tunnel, running the lookup when needed. Waits at most wait_max_ms
/// for another thread's lookup of the same tunnel.
pub fn get(id: *const names.TunnelId, out: *answer.Answer, wait_max_ms: u32) ?Problem {
    const deadline_ms = sys.now_ms() + wait_max_ms;
    lock.lock();
    defer lock.unlock();
    const entry = claim(id) orelse return .{ .kind = .busy };
    var rounds: u32 = 0;
    while (rounds < get_rounds_max) : (rounds += 1) {
        const now = sys.now_ms();
        switch (entry.state) {
            .ready => if (now < entry.until_ms) {
                out.* = entry.answer;
                return null;
            },
            .failed => if (now < entry.until_ms) return entry.problem,
            .looking => {
                if (now >= deadline_ms) return .{ .kind = .timeout };
                changed.wait_ms(&lock, wait_slice_ms);
                continue;
            },
            .idle => {},
        }
        return refresh(entry, out);
    }
    return .{ .kind = .timeout };
}

/// How long failure number `failures` in a row is remembered: the lookup timeout (at
/// least a second), doubled for each failure before it, capped.
pub fn failure_backoff_ms(failures: u8) u64 {
    assert(failures >= 1);
    const timeout_ms: u64 = @import("environment.zig").global.lookup_timeout_ms;
    const base_ms = @max(timeout_ms, 1000);
    const shift: u6 = @intCast(@min(failures - 1, 16));
    return @min(base_ms << shift, @max(base_ms, failure_backoff_max_ms));
}

/// Runs the lookup for entry with the lock released. Called and returns with it held.
fn refresh(entry: *Entry, out: *answer.Answer) ?Problem {
    assert(entry.claimed);
    assert(entry.state != .looking);
    entry.state = .looking;
    return finish_refresh(entry, out);
}

/// The lookup of an entry already marked looking. Called and returns with lock held.
fn finish_refresh(entry: *Entry, out: *answer.Answer) ?Problem {
    assert(entry.state == .looking);
    const id = entry.id;
    lock.unlock();
    var parsed: answer.Answer = undefined;
    const problem = lookup_and_parse(&id, &entry.output, &parsed);
    lock.lock();
    defer changed.broadcast();
    assert(entry.state == .looking);
    const now = sys.now_ms();
    if (problem) |found| {
        entry.state = .failed;
        entry.problem = found;
        entry.failures +|= 1;
        entry.until_ms = now + failure_backoff_ms(entry.failures);
        return found;
    }
    entry.failures = 0;
    entry.state = .ready;
    entry.answer = parsed;
    entry.has_answer = true;
    entry.until_ms = now + @as(u64, parsed.ttl_seconds) * 1000;
    out.* = parsed;
    return null;
}

fn lookup_and_parse(
    id: *const names.TunnelId,
    buffer: *[answer.answer_bytes_max]u8,
    out: *answer.Answer,
) ?Problem {
    const output = runner(id, buffer);
    if (output.failure) |failure| return switch (failure) {
        .no_binary => .{ .kind = .no_binary },
        .timeout => .{ .kind = .timeout },
        .exit_status => .{ .kind = .exit_status, .exit_code = output.exit_code },
        .output_too_long => .{ .kind = .bad_answer, .answer_error = error.AnswerTooLong },
        .spawn_failed, .environment_too_large, .io_error => .{ .kind = .spawn_failed },
    };
    assert(output.len <= buffer.len);
    out.* = answer.parse(
        buffer[0..output.len],
        id,
    ) catch |err| return .{ .kind = .bad_answer, .answer_error = err };
    return null;
}

/// The entry for id, or a free or stale one taken over for it. Holds the lock.
fn claim(id: *const names.TunnelId) ?*Entry {
    for (&entries) |*entry| {
        if (entry.claimed and entry.id.eql(id)) return entry;
    }
    const now = sys.now_ms();
    var victim: ?*Entry = null;
    for (&entries) |*entry| {
        if (!entry.claimed) {
            victim = entry;
            break;
        }
        const stale = entry.state != .looking and now >= entry.until_ms;
        if (stale and (victim == null or entry.until_ms < victim.?.until_ms)) victim = entry;
    }
    const entry = victim orelse return null;
    entry.* = .{ .claimed = true, .id = id.* };
    return entry;
}

pub const Peeked = enum {
    /// out holds the last good answer (maybe stale; a refresh then runs in the background).
    answer,
    /// No answer yet, and none is being looked up or the last lookup failed.
    none,
    /// No answer yet; a lookup is running.
    looking,
};

/// The last good answer for tunnel, without waiting. When it is stale (or there is none
/// and no lookup is running or backing off) a lookup starts on a thread of its own.
pub fn peek(id: *const names.TunnelId, out: *answer.Answer) Peeked {
    lock.lock();
    defer lock.unlock();
    const entry = claim(id) orelse return .none;
    const now = sys.now_ms();
    const due = now >= entry.until_ms and entry.state != .looking;
    if (due) refresh_in_background(entry);
    if (entry.has_answer) {
        out.* = entry.answer;
        return .answer;
    }
    return if (entry.state == .looking) .looking else .none;
}

/// Marks entry looking and runs its lookup on a new thread. Holds the lock.
fn refresh_in_background(entry: *Entry) void {
    assert(entry.claimed);
    assert(entry.state != .looking);
    entry.state = .looking;
    if (thread.spawn_detached(background_refresh, entry)) return;
    // No thread (out of memory or threads): try again on the next call, not in a loop.
    entry.state = .failed;
    entry.problem = .{ .kind = .spawn_failed };
    entry.failures +|= 1;
    entry.until_ms = sys.now_ms() + failure_backoff_ms(entry.failures);
}

fn background_refresh(arg: ?*anyopaque) callconv(.c) ?*anyopaque {
    const entry: *Entry = @ptrCast(@alignCast(arg.?));
    lock.lock();
    defer lock.unlock();
    // The process may have forked since; a child's copy went back to idle.
    if (entry.state != .looking) return null;
    var out: answer.Answer = undefined;
    _ = finish_refresh(entry, &out);
    return null;
}

pub fn fork_prepare() void {
    lock.lock();
}

pub fn fork_parent() void {
    lock.unlock();
}

/// In the child the threads that were looking are gone: their entries go back to idle.
pub fn fork_child() void {
    lock.reset();
    changed.reset();
    for (&entries) |*entry| {
        if (entry.state == .looking) entry.state = .idle;
    }
}

/// Forgets everything; for tests.
pub fn reset_for_test() void {
    lock.lock();
    defer lock.unlock();
    entries = @splat(.{});
}

const testing = std.testing;

var fake_calls: std.atomic.Value(u32) = .init(0);
var fake_text: []const u8 = "";
var fake_failure: ?lookup.Failure = null;

fn fake_runner(_: *const names.TunnelId, buffer: *[answer.answer_bytes_max]u8) lookup.Output {
    _ = fake_calls.fetchAdd(1, .seq_cst);
    sys.sleep_ms(50);
    if (fake_failure) |failure| return .{ .failure = failure, .exit_code = 3 };
    @memcpy(buffer[0..fake_text.len], fake_text);
    return .{ .failure = null, .len = fake_text.len, .exit_code = 0 };
}

fn use_fake(text: []const u8, failure: ?lookup.Failure) void {
    reset_for_test();
    runner = &fake_runner;
    fake_calls.store(0, .seq_cst);
    fake_text = text;
    fake_failure = failure;
}

const tunnel_a = names.TunnelId.parse("5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2f").?;
const good_text = "connector_contact_string=127.0.0.1:50123\nfake_port=4001\nttl_seconds=60\n";

fn get_in_thread(ok: *bool) void {
    var got: answer.Answer = undefined;
    ok.* = get(&tunnel_a, &got, 5000) == null and got.fake_port == 4001;
}

test "threads asking for the same tunnel wait for one lookup" {
    use_fake(good_text, null);
    defer runner = &run_binary;
    var oks: [4]bool = @splat(false);
    var threads: [4]std.Thread = undefined;
    for (&threads, &oks) |*t, *ok| t.* = try std.Thread.spawn(.{}, get_in_thread, .{ok});
    for (threads) |t| t.join();
    for (oks) |ok| try testing.expect(ok);
    try testing.expectEqual(@as(u32, 1), fake_calls.load(.seq_cst));
}

test "peek serves the last good answer at once and refreshes a stale one in the background" {
    use_fake("connector_contact_string=127.0.0.1:1\nfake_port=2\nttl_seconds=0\n", null);
    defer runner = &run_binary;
    var got: answer.Answer = undefined;
    // Nothing yet: the lookup starts on its own thread and peek does not wait for it.
    const started = sys.now_ms();
    try testing.expect(peek(&tunnel_a, &got) != .answer);
    try testing.expect(sys.now_ms() - started < 40);
    var rounds: u32 = 0;
    while (peek(&tunnel_a, &got) != .answer and rounds < 200) : (rounds += 1) sys.sleep_ms(5);
    try testing.expectEqual(@as(u16, 2), got.fake_port);
    // Stale at once (ttl 0): later peeks still answer, and start at most one refresh each.
    fake_text = "connector_contact_string=127.0.0.1:1\nfake_port=3\nttl_seconds=60\n";
    try testing.expectEqual(Peeked.answer, peek(&tunnel_a, &got));
    rounds = 0;
    while (got.fake_port != 3 and rounds < 200) : (rounds += 1) {
        sys.sleep_ms(5);
        _ = peek(&tunnel_a, &got);
    }
    try testing.expectEqual(@as(u16, 3), got.fake_port);
    const calls = fake_calls.load(.seq_cst);
    try testing.expectEqual(Peeked.answer, peek(&tunnel_a, &got));
    sys.sleep_ms(80);
    try testing.expectEqual(calls, fake_calls.load(.seq_cst));
}

test "failures in a row back off from the lookup timeout, doubling, capped" {
    const timeout_ms: u64 = @import("environment.zig").global.lookup_timeout_ms;
    try testing.expectEqual(@max(timeout_ms, 1000), failure_backoff_ms(1));
    try testing.expectEqual(2 * failure_backoff_ms(1), failure_backoff_ms(2));
    try testing.expect(failure_backoff_ms(255) <= @max(failure_backoff_max_ms, timeout_ms));
    try testing.expect(failure_backoff_ms(255) >= failure_backoff_ms(1));
}

test "a failed lookup is remembered briefly and a zero ttl always refreshes" {
    use_fake(good_text, .exit_status);
    defer runner = &run_binary;
    var got: answer.Answer = undefined;
    const first = get(&tunnel_a, &got, 5000).?;
    try testing.expectEqual(Problem.Kind.exit_status, first.kind);
    try testing.expectEqual(@as(c_int, 3), first.exit_code);
    try testing.expectEqual(Problem.Kind.exit_status, get(&tunnel_a, &got, 5000).?.kind);
    try testing.expectEqual(@as(u32, 1), fake_calls.load(.seq_cst));
    var buffer: [128]u8 = undefined;
    try testing.expect(std.mem.indexOf(u8, first.describe(&buffer), "status 3") != null);

    use_fake("connector_contact_string=127.0.0.1:1\nfake_port=2\nttl_seconds=0\n", null);
    try testing.expect(get(&tunnel_a, &got, 5000) == null);
    try testing.expect(get(&tunnel_a, &got, 5000) == null);
    try testing.expectEqual(@as(u32, 2), fake_calls.load(.seq_cst));

    use_fake("garbage\n", null);
    const bad = get(&tunnel_a, &got, 5000).?;
    try testing.expectEqual(Problem.Kind.bad_answer, bad.kind);
    try testing.expectEqual(error.NotKeyValue, bad.answer_error.?);
}

test "more tunnels than the table holds are refused while all are fresh" {
    use_fake(good_text, null);
    defer runner = &run_binary;
    var got: answer.Answer = undefined;
    var text: [36]u8 = "00000000-0000-4000-8000-000000000000".*;
    for (0..tunnels_max + 1) |index| {
        text[34] = "0123456789abcdef"[index / 16];
        text[35] = "0123456789abcdef"[index % 16];
        const id = names.TunnelId.parse(&text).?;
        const problem = get(&id, &got, 5000);
        if (index < tunnels_max) {
            try testing.expect(problem == null);
        } else {
            try testing.expectEqual(Problem.Kind.busy, problem.?.kind);
        }
    }
}

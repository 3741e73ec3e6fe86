//! Fuzzing of the library's parsers (targets.zig says what each checks). Two ways:
//!
//!   zig build test                      a bounded, deterministic run (every target, the
//!                                       corpus, then -Dfuzz-iterations mutations,
//!                                       default 20000, seeded by -Dfuzz-seed)
//!   zig build fuzz -Dfuzz-iterations=N  the same loop for longer; -Dfuzz-save=true keeps
//!                                       each input that reached a new outcome in
//!                                       tests/fuzz_native/corpus/<target>/
//!   zig build fuzz --fuzz=1M -Doptimize=ReleaseSafe
//!                                       Zig's coverage-guided fuzzer on the same checks
//!                                       (std.testing.fuzz). It needs the LLVM backend
//!                                       (ReleaseSafe); Zig 0.17.1 exits 0 even when it
//!                                       finds a failure, so read its output for
//!                                       "input saved to".
//!
//! The corpus is every file in tests/fuzz_native/corpus/<target>/, the GSA1 messages of
//! tests/handshake/gsa1_vectors.json for the GSA1 targets, and each target's seeds. The
//! mutation loop also builds on the inputs that reach an outcome not seen before.

const std = @import("std");
const options = @import("fuzz_options");
const fuzz_targets = @import("targets.zig");
const mutate = @import("mutate.zig");
const Target = fuzz_targets.Target;
const testing = std.testing;

const input_file_bytes_max = 64 * 1024;
/// Inputs kept in the working pool, corpus included; new-outcome inputs join until then.
const pool_max = 4096;

test {
    _ = mutate;
}

const Pool = struct {
    arena: std.heap.ArenaAllocator,
    inputs: std.ArrayList([]const u8) = .empty,

    fn add(pool: *Pool, input: []const u8) !void {
        if (pool.inputs.items.len == pool_max) return;
        const allocator = pool.arena.allocator();
        try pool.inputs.append(allocator, try allocator.dupe(u8, input));
    }

    fn deinit(pool: *Pool) void {
        pool.arena.deinit();
    }
};

fn load_pool(target: Target) !Pool {
    var pool: Pool = .{ .arena = .init(testing.allocator) };
    errdefer pool.deinit();
    for (target.seeds) |seed| try pool.add(seed);
    try load_corpus_folder(&pool, target.name);
    if (std.mem.startsWith(u8, target.name, "gsa1")) try load_vectors(&pool);
    return pool;
}

fn load_corpus_folder(pool: *Pool, name: []const u8) !void {
    const io = testing.io;
    var path_buffer: [std.fs.max_path_bytes]u8 = undefined;
    const path = try std.fmt.bufPrint(&path_buffer, "{s}/{s}", .{ options.corpus_path, name });
    var dir = std.Io.Dir.cwd().openDir(io, path, .{ .iterate = true }) catch |err| switch (err) {
        error.FileNotFound => return,
        else => return err,
    };
    defer dir.close(io);
    var entries = dir.iterate();
    while (try entries.next(io)) |entry| {
        if (entry.kind != .file) continue;
        const bytes = try dir.readFileAlloc(io, entry.name, testing.allocator, .limited(input_file_bytes_max));
        defer testing.allocator.free(bytes);
        try pool.add(bytes);
    }
}

const Vectors = struct {
    vectors: []const struct { hello_hex: []const u8, proof_hex: []const u8, verdict_ok_hex: []const u8 },
    invalid: []const struct { bytes_hex: []const u8 },
};

fn load_vectors(pool: *Pool) !void {
    const io = testing.io;
    const text = try std.Io.Dir.cwd().readFileAlloc(io, options.vectors_path, testing.allocator, .limited(1 << 20));
    defer testing.allocator.free(text);
    const parsed = try std.json.parseFromSlice(Vectors, testing.allocator, text, .{
        .ignore_unknown_fields = true,
    });
    defer parsed.deinit();
    var buffer: [1024]u8 = undefined;
    for (parsed.value.vectors) |vector| {
        for ([_][]const u8{ vector.hello_hex, vector.proof_hex, vector.verdict_ok_hex }) |hex| {
            try pool.add(try std.fmt.hexToBytes(&buffer, hex));
        }
    }
    for (parsed.value.invalid) |case| try pool.add(try std.fmt.hexToBytes(&buffer, case.bytes_hex));
}

/// Says which input broke a property (hex, so it can be put back into the corpus).
fn report(target: Target, where: []const u8, input: []const u8) void {
    const shown = input[0..@min(input.len, 512)];
    std.debug.print("fuzz: {s}: failed on {s} ({d} bytes, seed 0x{x}): {x}\n", .{
        target.name, where, input.len, options.seed, shown,
    });
    if (options.save) save(target, "failure", input);
}

/// Writes an input into tests/fuzz_native/corpus/<target>/<kind>-<hash>.bin.
fn save(target: Target, kind: []const u8, input: []const u8) void {
    const io = testing.io;
    var path_buffer: [std.fs.max_path_bytes]u8 = undefined;
    const folder = std.fmt.bufPrint(&path_buffer, "{s}/{s}", .{ options.corpus_path, target.name }) catch return;
    std.Io.Dir.cwd().createDirPath(io, folder) catch return;
    var name_buffer: [std.fs.max_path_bytes]u8 = undefined;
    const name = std.fmt.bufPrint(&name_buffer, "{s}/{s}-{x:0>16}.bin", .{
        folder, kind, std.hash.Wyhash.hash(0, input),
    }) catch return;
    std.Io.Dir.cwd().writeFile(io, .{ .sub_path = name, .data = input }) catch return;
}

/// The corpus, then the mutation loop, for one target.
fn run_target(target: Target) !void {
    const started_ns = std.Io.Clock.awake.now(testing.io).nanoseconds;
    var pool = try load_pool(target);
    defer pool.deinit();
    var seen: std.AutoHashMapUnmanaged(u64, void) = .empty;
    defer seen.deinit(testing.allocator);
    const corpus_len = pool.inputs.items.len;
    for (pool.inputs.items) |input| {
        const signature = target.check(input) catch |err| {
            report(target, "a corpus input", input);
            return err;
        };
        try seen.put(testing.allocator, signature, {});
    }
    const corpus_outcomes = seen.count();
    const iterations = options.iterations / target.cost;
    const seed = options.seed ^ std.hash.Wyhash.hash(0, target.name);
    var mutator = mutate.Mutator.init(seed, target.dictionary);
    var random = std.Random.DefaultPrng.init(seed +% 1);
    for (0..iterations) |iteration| {
        const inputs = pool.inputs.items;
        const base = inputs[random.random().uintLessThan(usize, inputs.len)];
        const other = inputs[random.random().uintLessThan(usize, inputs.len)];
        const input = mutator.next(base, other);
        const signature = target.check(input) catch |err| {
            var where: [64]u8 = undefined;
            report(target, std.fmt.bufPrint(&where, "iteration {d}", .{iteration}) catch "?", input);
            return err;
        };
        const entry = try seen.getOrPut(testing.allocator, signature);
        if (entry.found_existing) continue;
        try pool.add(input);
        if (options.save) save(target, "new", input);
    }
    if (!options.verbose) return;
    std.debug.print("fuzz: {s}: {d} corpus inputs, {d} iterations, {d} outcomes ({d} new), " ++
        "seed 0x{x}, {d} ms\n", .{
        target.name,                                                                                corpus_len,                     iterations,
        seen.count(),                                                                               seen.count() - corpus_outcomes, seed,
        @divTrunc(std.Io.Clock.awake.now(testing.io).nanoseconds - started_ns, std.time.ns_per_ms),
    });
}

test "fuzz gsa1 messages" {
    try run_target(fuzz_targets.targets[0]);
}

test "fuzz gsa1 over a socket (both roles)" {
    try run_target(fuzz_targets.targets[1]);
}

test "fuzz the lookup answer parser" {
    try run_target(fuzz_targets.targets[2]);
}

test "fuzz contact strings and addresses" {
    try run_target(fuzz_targets.targets[3]);
}

test "fuzz tunnel ids and names" {
    try run_target(fuzz_targets.targets[4]);
}

test "fuzz the environment variables" {
    try run_target(fuzz_targets.targets[5]);
}

// --- Zig's coverage-guided fuzzer (zig build fuzz --fuzz=N -Doptimize=ReleaseSafe) ----

fn smith_one(target: Target, smith: *testing.Smith) anyerror!void {
    var buffer: [mutate.input_bytes_max]u8 = undefined;
    const len = smith.slice(&buffer);
    _ = try target.check(buffer[0..len]);
}

/// Runs target under std.testing.fuzz with the whole corpus (each input encoded as Smith
/// reads a slice: a little-endian u32 length, then the bytes). Without --fuzz only the
/// corpus runs.
fn coverage_guided(target: Target) !void {
    var pool = try load_pool(target);
    defer pool.deinit();
    const allocator = pool.arena.allocator();
    var corpus: std.ArrayList([]const u8) = .empty;
    for (pool.inputs.items) |input| {
        const len = @min(input.len, mutate.input_bytes_max);
        const encoded = try allocator.alloc(u8, 4 + len);
        std.mem.writeInt(u32, encoded[0..4], @intCast(len), .little);
        @memcpy(encoded[4..], input[0..len]);
        try corpus.append(allocator, encoded);
    }
    try testing.fuzz(target, smith_one, .{ .corpus = corpus.items });
}

test "coverage-guided: gsa1" {
    try coverage_guided(fuzz_targets.targets[0]);
}

test "coverage-guided: gsa1_stream" {
    try coverage_guided(fuzz_targets.targets[1]);
}

test "coverage-guided: answer" {
    try coverage_guided(fuzz_targets.targets[2]);
}

test "coverage-guided: contact" {
    try coverage_guided(fuzz_targets.targets[3]);
}

test "coverage-guided: names" {
    try coverage_guided(fuzz_targets.targets[4]);
}

test "coverage-guided: environment" {
    try coverage_guided(fuzz_targets.targets[5]);
}

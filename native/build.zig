//! Builds libglobus_streams_client.so.0, the preload library, and runs its unit tests.
//!
//!   zig build                                   the library for this machine, into zig-out/
//!   zig build -Dtarget=x86_64-linux-gnu.2.17 -Doptimize=ReleaseSafe --prefix DIR
//!   zig build -Dtarget=aarch64-linux-gnu.2.17 -Doptimize=ReleaseSafe --prefix DIR
//!   zig build test --summary all                unit tests ("N/M tests passed")
//!
//! Also builds zig-out/bin/globus-streams-supervise, the seccomp engine of the launcher
//! (src/supervise_main.zig), statically linked against musl for the target's CPU.
//!   zig build fuzz -Dfuzz-iterations=N          the parsers' fuzzers, longer (fuzz/fuzz.zig)
//!
//! Release targets name glibc 2.17 as the floor (RHEL/CentOS 7 and everything newer):
//! the library uses no libc symbol newer than that (getrandom goes through the raw
//! syscall, with /dev/urandom for kernels that lack it). Installs
//! DIR/lib/libglobus_streams_client.so.0 (soname libglobus_streams_client.so.0) and the
//! symlink DIR/lib/libglobus_streams_client.so.

const std = @import("std");

const library_name = "globus_streams_client";
const library_file = "libglobus_streams_client.so.0";

pub fn build(b: *std.Build) void {
    const target = b.standardTargetOptions(.{});
    const optimize = b.standardOptimizeOption(.{});

    const library = b.addLibrary(.{
        .linkage = .dynamic,
        .name = library_name,
        // The version sets the soname to libglobus_streams_client.so.0.
        .version = .{ .major = 0, .minor = 1, .patch = 0 },
        .root_module = b.createModule(.{
            .root_source_file = b.path("src/lib.zig"),
            .target = target,
            .optimize = optimize,
            .link_libc = true,
            .pic = true,
            // Release builds ship without debug info (about 4 MB of it).
            .strip = if (optimize == .debug) null else true,
        }),
    });
    // No C code here: keep the UBSan runtime (and its exported handlers) out of the
    // library, whose only exports are then the nine hooks.
    library.bundle_ubsan_rt = false;
    // Installed under the soname itself, not a .so.0.1.0 file with two symlinks.
    const install = b.addInstallArtifact(library, .{
        .dylib_symlinks = false,
        .dest_sub_path = library_file,
    });
    const link = b.addSystemCommand(&.{ "ln", "-sfn", library_file });
    link.addDirectoryArg(b.graph.path(.install_lib, "lib" ++ library_name ++ ".so"));
    link.has_side_effects = true;
    link.step.dependOn(&install.step);
    b.getInstallStep().dependOn(&link.step);

    // globus-streams-supervise, the seccomp engine (src/supervise_main.zig): a static
    // musl executable for the same CPU, so it runs wherever the library's target does.
    const supervise_target = b.resolveTargetQuery(.{
        .cpu_arch = target.result.cpu.arch,
        .os_tag = .linux,
        .abi = .musl,
    });
    const supervise_module = b.createModule(.{
        .root_source_file = b.path("src/supervise_main.zig"),
        .target = supervise_target,
        .optimize = optimize,
        .link_libc = true,
        .strip = if (optimize == .debug) null else true,
    });
    const supervise = b.addExecutable(.{ .name = "globus-streams-supervise", .root_module = supervise_module });
    supervise.bundle_ubsan_rt = false;
    b.installArtifact(supervise);

    const options = b.addOptions();
    options.addOptionPath("vectors_path", b.path("../tests/handshake/gsa1_vectors.json"));
    const test_module = b.createModule(.{
        .root_source_file = b.path("src/tests.zig"),
        .target = target,
        .optimize = optimize,
        .link_libc = true,
    });
    const tests = b.addTest(.{ .root_module = test_module });
    // The library's modules without hooks, for the code in fuzz/ (src/parts.zig).
    const streams = b.createModule(.{
        .root_source_file = b.path("src/parts.zig"),
        .target = target,
        .optimize = optimize,
        .link_libc = true,
    });
    const vectors_module = b.createModule(.{
        .root_source_file = b.path("fuzz/gsa1_vectors_test.zig"),
        .target = target,
        .optimize = optimize,
        .link_libc = true,
    });
    vectors_module.addOptions("build_options", options);
    vectors_module.addImport("streams", streams);
    const run_vectors = b.addRunArtifact(b.addTest(.{ .root_module = vectors_module }));
    run_vectors.has_side_effects = true;
    run_vectors.setCwd(b.path("."));
    const run_tests = b.addRunArtifact(tests);
    // Always run, so every `zig build test` prints its "N/M tests passed" count.
    run_tests.has_side_effects = true;
    run_tests.setCwd(b.path("."));
    const test_step = b.step("test", "Run the unit tests");
    test_step.dependOn(&run_tests.step);
    test_step.dependOn(&run_vectors.step);
    const supervise_tests = b.addRunArtifact(b.addTest(.{ .root_module = b.createModule(.{
        .root_source_file = b.path("src/supervise_tests.zig"),
        .target = target,
        .optimize = optimize,
        .link_libc = true,
    }) }));
    supervise_tests.has_side_effects = true;
    test_step.dependOn(&supervise_tests.step);

    // The parsers' fuzzers (fuzz/fuzz.zig): a bounded, quiet, deterministic run inside
    // `zig build test`; `zig build fuzz` runs longer (-Dfuzz-iterations, default 1000000)
    // and prints what each target did.
    const fuzz_iterations = b.option(u64, "fuzz-iterations", "Mutations per fuzz target");
    const fuzz_seed = b.option(u64, "fuzz-seed", "Seed of the fuzz mutations") orelse 0x6a51_5eed;
    const fuzz_save = b.option(bool, "fuzz-save", "Keep new-outcome inputs in tests/fuzz_native/corpus") orelse false;
    const fuzz_filter = b.option([]const u8, "fuzz-filter", "Only the fuzz tests whose names contain this (zig build fuzz)");
    const fuzz_runs = [_]struct { step: *std.Build.Step, iterations: u64, verbose: bool, filter: ?[]const u8 }{
        .{ .step = test_step, .iterations = fuzz_iterations orelse 20_000, .verbose = false, .filter = null },
        .{
            .step = b.step("fuzz", "Fuzz the parsers (-Dfuzz-iterations=N; --fuzz=N with -Doptimize=ReleaseSafe)"),
            .iterations = fuzz_iterations orelse 1_000_000,
            .verbose = true,
            .filter = fuzz_filter,
        },
    };
    for (fuzz_runs) |fuzz_run| {
        const fuzz_options = b.addOptions();
        fuzz_options.addOption(u64, "iterations", fuzz_run.iterations);
        fuzz_options.addOption(u64, "seed", fuzz_seed);
        fuzz_options.addOption(bool, "save", fuzz_save);
        fuzz_options.addOption(bool, "verbose", fuzz_run.verbose);
        // Relative to the test's working directory, native/.
        fuzz_options.addOption([]const u8, "corpus_path", "../tests/fuzz_native/corpus");
        fuzz_options.addOptionPath("vectors_path", b.path("../tests/handshake/gsa1_vectors.json"));
        const fuzz_module = b.createModule(.{
            .root_source_file = b.path("fuzz/fuzz.zig"),
            .target = target,
            .optimize = optimize,
            .link_libc = true,
        });
        fuzz_module.addOptions("fuzz_options", fuzz_options);
        fuzz_module.addImport("streams", streams);
        // Only the fuzz files' tests: the unit tests of the files they import run above.
        const filters: []const []const u8 = &.{fuzz_run.filter orelse "fuzz"};
        const run_fuzz = b.addRunArtifact(b.addTest(.{ .root_module = fuzz_module, .filters = filters }));
        run_fuzz.has_side_effects = true;
        run_fuzz.setCwd(b.path("."));
        fuzz_run.step.dependOn(&run_fuzz.step);
    }
}

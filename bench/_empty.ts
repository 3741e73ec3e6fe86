// The baseline of the start-up benchmarks: a module that does nothing, run with the
// launcher's Deno, DENO_DIR and permissions.

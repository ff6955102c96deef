// Node flags of the processes this project starts for long work (the engine worker; the codegen-mt command has
// them in its shebang line, which a test keeps equal to these).
//
// Node 20 can deadlock at exit (nodejs/node#54918): a concurrent TurboFan compile job waits for a garbage
// collection that only the main thread can run, while the main thread waits for the job in DrainTasks or in the
// platform's shutdown. The process never ends (seen here once in a CLI test, hung for good after a generation).
// Optimizing on the main thread instead removes the background jobs that take part; its cost was not measurable
// on a 300-token generation. The flag must be given on the command line: set later, V8 keeps compiling
// concurrently.
export const NODE_FLAGS: readonly string[] = ['--no-concurrent-recompilation'];

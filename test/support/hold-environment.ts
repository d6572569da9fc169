// Starts a one-member environment, prints `{"dir", "pids"}` as one JSON line, and waits
// to be stopped. Used by the teardown tests to play the part of a test run that is
// interrupted or killed.
import { startEnvironment } from '../../src/testenv/environment.ts';
import { defaultMembers } from '../../src/testenv/topology.ts';

const env = await startEnvironment({ members: defaultMembers.slice(0, 1) });
process.stdout.write(`${JSON.stringify({ dir: env.dir, pids: env.processes().map((p) => p.pid) })}\n`);
process.on('SIGTERM', () => void env.stop().then(() => process.exit(0)));
setInterval(() => {}, 1 << 30);

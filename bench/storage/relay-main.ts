/**
 * The WAN emulator (test/storage/delay-relay.ts) as its own process, so the emulated
 * network's CPU is not charged to the frontend's event loop. Prints `{"port":N}`.
 *
 *   node bench/storage/relay-main.ts --target 127.0.0.1:7401 --delay 30
 */
import { parseArgs } from 'node:util';
import { DelayRelay } from '../../test/storage/delay-relay.ts';

const { values } = parseArgs({
  options: { target: { type: 'string' }, delay: { type: 'string', default: '30' } },
});
const [host, port] = (values.target ?? '').split(':');
if (host === undefined || port === undefined) {
  process.stderr.write('usage: relay-main.ts --target HOST:PORT [--delay MS]\n');
  process.exit(2);
}
const relay = new DelayRelay({ host, port: Number(port) }, Number(values.delay));
process.stdout.write(JSON.stringify({ port: await relay.listen() }) + '\n');
const stop = (): void => {
  relay.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

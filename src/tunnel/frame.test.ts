import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TunnelError } from './errors.ts';
import {
  FrameType,
  HEADER_BYTES,
  MAX_FRAME_PAYLOAD,
  ResetCode,
  decodeFrames,
  encodeFrame,
  frameHeader,
  parseReset,
  parseWindowUpdate,
  resetFrame,
  windowUpdateFrame,
} from './frame.ts';

test('several frames in one message decode in order, payloads as views', () => {
  const msg = Buffer.concat([
    encodeFrame(FrameType.Open, 1, Buffer.from('GET /')),
    frameHeader(FrameType.Data, 1, 3),
    Buffer.from('abc'),
    encodeFrame(FrameType.Close, 1),
    windowUpdateFrame(2, 4096),
    resetFrame(3, ResetCode.Refused, 'too many'),
  ]);
  const frames = [...decodeFrames(msg)];
  assert.deepEqual(
    frames.map((f) => [f.type, f.stream, f.payload.length]),
    [
      [FrameType.Open, 1, 5],
      [FrameType.Data, 1, 3],
      [FrameType.Close, 1, 0],
      [FrameType.WindowUpdate, 2, 4],
      [FrameType.Reset, 3, 4 + 8],
    ],
  );
  assert.equal(frames[1]!.payload.toString(), 'abc');
  assert.equal(frames[1]!.payload.buffer, msg.buffer, 'no copy');
  assert.equal(parseWindowUpdate(frames[3]!), 4096);
  assert.deepEqual(parseReset(frames[4]!), { code: ResetCode.Refused, message: 'too many' });
});

test('truncated and oversized frames are protocol errors', () => {
  const whole = encodeFrame(FrameType.Data, 1, Buffer.alloc(10));
  assert.throws(() => [...decodeFrames(whole.subarray(0, HEADER_BYTES - 1))], isProtocol);
  assert.throws(() => [...decodeFrames(whole.subarray(0, whole.length - 1))], isProtocol);
  assert.throws(() => [...decodeFrames(frameHeader(FrameType.Data, 1, MAX_FRAME_PAYLOAD + 1))], isProtocol);
  assert.throws(
    () => parseWindowUpdate({ type: FrameType.WindowUpdate, stream: 1, payload: Buffer.alloc(4) }),
    isProtocol,
  );
});

test('reset messages are cut to 1 KiB', () => {
  const f = [...decodeFrames(resetFrame(1, ResetCode.Cancel, 'x'.repeat(5000)))][0]!;
  assert.equal(parseReset(f).message.length, 1024);
});

function isProtocol(err: unknown): boolean {
  return err instanceof TunnelError && err.code === 'Protocol';
}

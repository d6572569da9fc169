#!/usr/bin/env node
// The `meridian` command.
import { Command, InvalidArgumentError } from 'commander';
import { runDemo } from './demo.ts';
import { registerClusters } from './clusters.ts';
import { registerAgent } from './agent.ts';
import { registerControllers } from './controllers.ts';
import { registerGateway } from './gateway.ts';
import { registerDescribe } from './describe.ts';
import { registerGet } from './get.ts';
import { registerJoin } from './join.ts';
import { registerKubeconfig } from './kubeconfig.ts';
import { registerUp } from './up.ts';
import { registerDev } from './dev-clusters.ts';
import { registerInit } from './init.ts';
import { registerVolumes } from './volumes.ts';
import { registerStorage } from './storage.ts';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 20)
    throw new InvalidArgumentError('expected a whole number from 1 to 20');
  return n;
}

function atLeastThree(value: string): number {
  const n = positiveInt(value);
  if (n < 3) throw new InvalidArgumentError('the demo spreads its app over three regions: use 3 or more');
  return n;
}

const program = new Command('meridian')
  .description('One control plane for many Kubernetes clusters.')
  .showHelpAfterError('(run with --help for usage)')
  .addHelpText(
    'after',
    `
Exit codes (clusters, get, describe, kubeconfig, join, up, dev, init): 0 done; 1 usage
(wrong arguments or options); 2 the hub or a member could not be reached or refused, or a
local hub is not running / already running; 3 not found.
Every command takes --help. Reference: docs/cli.md.`,
  );

program
  .command('demo')
  .description(
    'start a local hub, Meridian and simulated member clusters, spread a sample app over them and print where it went',
  )
  .option(
    '--members <n>',
    'number of member clusters (the sample app needs the first three)',
    atLeastThree,
    3,
  )
  .option('--dir <path>', 'keep state in this directory (default: a temporary one removed on exit)')
  .action(async (opts: { members: number; dir?: string }) => {
    await runDemo(opts);
  });

registerUp(program);
registerDev(program);
registerInit(program);
registerJoin(program);
registerClusters(program);
registerGet(program);
registerDescribe(program);
registerKubeconfig(program);
registerControllers(program);
registerGateway(program);
registerAgent(program);
registerVolumes(program);
registerStorage(program);
await program.parseAsync();

import { render } from 'ink';
import { createController, emptyLaunchForm } from '../core/controller';
import type { LauncherContext } from '../core/vm';
import { App } from './App';

/** Runs the terminal UI until the user quits; returns the exit code. */
export async function startUi(ctx: LauncherContext): Promise<number> {
  if (!process.stdin.isTTY) {
    process.stderr.write('error: the terminal UI needs a terminal; use the subcommands (ee --help) in scripts\n');
    return 2;
  }
  const app = render(<App controller={createController(ctx)} initialForm={emptyLaunchForm(ctx.env)} />);
  await app.waitUntilExit();
  return 0;
}

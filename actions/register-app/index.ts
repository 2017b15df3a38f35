import { processIo, runAction } from '../lib/toolkit';
import { registerApp } from './register-app';

const io = processIo();
process.exitCode = await runAction(io, () => registerApp(io));

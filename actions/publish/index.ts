import { processIo, runAction } from '../lib/toolkit';
import { publish } from './publish';

const io = processIo();
process.exitCode = await runAction(io, () => publish(io));

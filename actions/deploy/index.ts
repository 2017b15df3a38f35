import { processIo, runAction } from '../lib/toolkit';
import { deploy } from './deploy';

const io = processIo();
process.exitCode = await runAction(io, () => deploy(io));

#!/usr/bin/env node
// `ee` from source: registers tsx's loader, then runs launcher/main.ts.
import { register } from 'tsx/esm/api';

register();
await import('../main.ts');

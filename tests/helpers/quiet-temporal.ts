// Runs before every test file: Temporal's Rust core and workers log at WARN, so test
// output shows failures rather than worker state chatter.
import { DefaultLogger, Runtime } from '@temporalio/worker';

Runtime.install({ logger: new DefaultLogger('WARN') });

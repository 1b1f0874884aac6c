#!/usr/bin/env node
// The cesync executable: runs the compiled CLI (npm run build) and exits with its code.
import { main } from '../dist/cli/main.js';

// Output piped into a command that stops reading (`cesync --help | head`) is not an error.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

process.exitCode = await main(process.argv.slice(2));

/** `cesync config print|schema|check`: the effective configuration, its JSON Schema, a check. */
import { Command } from 'commander';
import { stringify } from 'yaml';
import { redact } from '../../config/redact.js';
import { configJsonSchema } from '../../config/schema.js';
import { checkShape } from '../../sync/pipeline-shape.js';
import { byTableSettings, describeEntry } from '../../sync/expand-pipelines.js';
import type { CliContext } from '../context.js';
import { addConfigOption, loadCliConfig } from '../shared-options.js';

export function configCommand(ctx: CliContext): Command {
  const cmd = new Command('config').description('show, check and describe the configuration');

  addConfigOption(
    cmd
      .command('print')
      .description(
        'print the effective configuration (file + environment + defaults), secrets redacted; it does not connect, so a tables pipeline ' +
          'is printed as written (its tables are known when a command connects: see cesync status)',
      )
      .option('--json', 'print JSON instead of YAML'),
  ).action(async (opts: { config?: string; json?: boolean }) => {
    // As a file would say it: the search cluster under its own section only (`target` is derived).
    const { target, elasticsearch: _es, opensearch: _os, ...rest } = redact(await loadCliConfig(ctx, opts.config));
    const { product, ...search } = target;
    const config = { ...rest, [product]: search };
    ctx.stdout.write(opts.json ? `${JSON.stringify(config, null, 2)}\n` : stringify(config));
  });

  addConfigOption(
    cmd
      .command('check')
      .description(
        'validate the configuration without connecting to anything; a tables pipeline is checked as written (its settings and byTable ' +
          'entries), while which tables it matches, and how they fit, is checked when a command connects',
      ),
  ).action(
    async (opts: { config?: string }) => {
      const config = await loadCliConfig(ctx, opts.config);
      // Shaping declarations compile and transform modules load (their fit to the table's
      // columns is checked when a run reads the table's schema).
      for (const p of config.pipelines) {
        await checkShape(p);
        for (const settings of byTableSettings(p)) await checkShape(settings);
      }
      ctx.stdout.write(`configuration is valid: ${config.pipelines.length} pipeline(s): ${config.pipelines.map(describeEntry).join(', ')}\n`);
    },
  );

  cmd
    .command('schema')
    .description('print the JSON Schema of the configuration file (for editors)')
    .action(() => {
      ctx.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
    });
  return cmd;
}

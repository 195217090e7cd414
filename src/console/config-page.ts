// The console's configuration page: the effective settings with secrets redacted, and the loaded
// mappings. Invariant: it shows only what redactedSettings returns (passwords in URLs, the app
// secret and the admin token never reach the page).
import { redactedSettings, SETTINGS_TABLE, type Settings } from '../config/settings.js';
import { describeMapping } from '../mapping/describe-mapping.js';
import type { CompiledMappingSet } from '../mapping/mapping-set.js';
import { html, type Html } from './html.js';

export function configBody(settings: Settings, mappings: CompiledMappingSet): Html {
  const shown = redactedSettings(settings);
  const value = (v: unknown) =>
    v === undefined || v === null ? html`<i>unset</i>` : v instanceof Date ? v.toISOString() : String(v);
  return html`<h1>Configuration</h1>
    <h2>Settings in effect</h2>
    <table class="settings">
      <thead>
        <tr>
          <th>variable</th>
          <th>value</th>
          <th>meaning</th>
        </tr>
      </thead>
      <tbody>
        ${Object.entries(SETTINGS_TABLE).map(
          ([key, spec]) =>
            html`<tr data-setting="${key}">
              <td><code>${spec.env}</code></td>
              <td>${value(shown[key])}</td>
              <td>${spec.doc}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    <h2>Loaded mappings</h2>
    <ul class="mappings">
      ${mappings.mappingNames.map((name) => {
        const m = mappings.mapping(name);
        return m
          ? html`<li>
              <code>${describeMapping(m)}</code>
              <ul>
                ${[...m.tables].map(([table, use]) => html`<li>${table}: ${[...use.columns].join(', ')}</li>`)}
              </ul>
            </li>`
          : null;
      })}
    </ul>`;
}

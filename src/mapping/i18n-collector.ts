// Collects the texts of one payload and hands out their `@i18n@` keys, then emits i18n_resources.
// Invariant: keys are deterministic (named after the first slot that used the text, in build order)
// and one per distinct text: the same texts in every locale share a key, different texts never do;
// the default locale's resource holds every key and is the only one with is_default: true.
import type { I18nResource } from '../feishu/external-instance.js';
import { LOCALES } from '../feishu/payload-schema.js';

/** Locales Feishu accepts in i18n_resources: the payload schema's list, the one source of truth. */
export const FEISHU_LOCALES: readonly string[] = LOCALES;

/** One text: its value per locale; the default locale's value is always present. */
export type LocalizedText = ReadonlyMap<string, string>;

export class I18nCollector {
  readonly #defaultLocale: string;
  readonly #keyByText = new Map<string, string>();
  readonly #texts: { key: string; text: LocalizedText }[] = [];
  readonly #usedKeys = new Set<string>();

  constructor(defaultLocale: string) {
    this.#defaultLocale = defaultLocale;
  }

  /** The key of `text`, named after `slot` (e.g. "title", "form.0.name") if the text is new. */
  add(slot: string, text: LocalizedText): string {
    const identity = JSON.stringify([...text].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const known = this.#keyByText.get(identity);
    if (known) return known;
    let key = `@i18n@${slot}`;
    for (let n = 2; this.#usedKeys.has(key); n++) key = `@i18n@${slot}.${n}`;
    this.#usedKeys.add(key);
    this.#keyByText.set(identity, key);
    this.#texts.push({ key, text });
    return key;
  }

  /** The default locale first, then the others in alphabetical order. */
  resources(): I18nResource[] {
    const locales = new Set<string>();
    for (const { text } of this.#texts) for (const locale of text.keys()) locales.add(locale);
    locales.delete(this.#defaultLocale);
    const out: I18nResource[] = [{ locale: this.#defaultLocale, is_default: true, texts: [] }];
    for (const locale of [...locales].sort()) out.push({ locale, is_default: false, texts: [] });
    for (const { key, text } of this.#texts) {
      for (const res of out) {
        const value = text.get(res.locale);
        if (value !== undefined) res.texts.push({ key, value });
      }
    }
    return out;
  }
}

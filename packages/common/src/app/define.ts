import { SluiceError } from '../errors.js';
import type { AppDefinition } from './types.js';

/**
 * Declares an application; an app module's default export. Returns its argument unchanged: the
 * function exists for type inference and so the runtime can recognise the module's shape.
 * Validation happens at launch (validateApp), where errors can name the operator or port.
 */
export function defineApp(def: AppDefinition): AppDefinition {
  return def;
}

/** Picks the AppDefinition out of an imported app module (default export, or the module itself). */
export function appFromModule(mod: unknown): AppDefinition {
  const candidate = (mod as { default?: unknown } | null)?.default ?? mod;
  if (
    candidate === null ||
    typeof candidate !== 'object' ||
    typeof (candidate as AppDefinition).name !== 'string' ||
    typeof (candidate as AppDefinition).operators !== 'object' ||
    typeof (candidate as AppDefinition).streams !== 'object'
  ) {
    return invalidModule();
  }
  return candidate as AppDefinition;
}

function invalidModule(): never {
  throw new SluiceError('INVALID_DAG', 'the app module must `export default defineApp({ name, operators, streams })`');
}

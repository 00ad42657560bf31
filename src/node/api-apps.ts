/**
 * The app fields of POST /v1/channels: `app` names an app this node plays (its config's
 * `contracts.apps`), `appOptions` are that app's options for a new game (tic-tac-toe: `{first: 0|1}`).
 * Both checked before anything is proposed; moves go to POST /v1/channels/:id/move {data}.
 */
import type { Address, Hex } from "../channel/types.js";
import { PerunError } from "../errors.js";
import { invalidField } from "./api-request.js";
import { KNOWN_APPS } from "./apps.js";

export function openApp(
  body: Record<string, unknown>,
  apps: Readonly<Record<string, Address>>,
): { app?: Address; appData?: Hex } {
  if (body.app === undefined) {
    if (body.appOptions !== undefined)
      throw invalidField("appOptions", "absent without app", body.appOptions);
    return {};
  }
  const names = Object.keys(apps);
  const name = body.app;
  if (typeof name !== "string" || !Object.hasOwn(apps, name)) {
    throw invalidField(
      "app",
      names.length === 0
        ? "absent: this node plays no app (config contracts.apps)"
        : `one of ${names.join(", ")}`,
      name,
    );
  }
  const def = KNOWN_APPS[name];
  if (def === undefined) throw invalidField("app", `one of ${Object.keys(KNOWN_APPS).join(", ")}`, name);
  try {
    return { app: apps[name] as Address, appData: def.initialData(body.appOptions) };
  } catch (e) {
    if (e instanceof PerunError) throw invalidField("appOptions", e.message, body.appOptions);
    throw e;
  }
}

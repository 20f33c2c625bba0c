/**
 * The ADS config source every dynamic reference uses. (Extension types in
 * `typed_config` fields are named where they are packed, with packAny, so the
 * message is checked against its generated type.)
 */
import type { envoy_config_core_v3_ConfigSource } from "../proto/envoy-types.ts";

export const ADS: envoy_config_core_v3_ConfigSource = { ads: {}, resource_api_version: "V3" };

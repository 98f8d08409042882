// Names for the server's shapes, all generated from its OpenAPI document (schema.d.ts).
import type { components, operations } from "./schema";

type S = components["schemas"];
export type RequestDetail = S["RequestDetail"];
export type LoggedRequest = S["LoggedRequest"];
export type LoggedAttempt = S["LoggedAttempt"];
export type RequestOutcome = S["RequestOutcome"];
export type RequestPage = S["RequestPage"];
export type SummaryReply = S["SummaryReply"];
export type ProvidersReply = S["ProvidersReply"];
export type ChainsReply = S["ChainsReply"];
export type Timeseries = S["Timeseries"];
export type HealthReply = S["HealthReply"];
/** `GET /health` as the footer reads it: the server's version (not the stats' HealthReply). */
export type ServerVersion = Pick<S["Health"], "version">;
export type Savings = S["Savings"];
export type Capacity = S["Capacity"];
export type RateLimitsReply = S["RateLimitsReply"];
export type EntryRateLimit = S["EntryRateLimit"];
export type ConfigView = S["ConfigView"];
export type ProviderConfig = S["ProviderConfig"];
export type ProviderInput = S["ProviderConfig"];
export type ChainConfig = S["ChainConfig"];
export type EntryConfig = S["EntryConfig"];
export type Settings = S["Settings"];
export type PresetView = S["PresetView"];
export type PresetsReply = S["PresetsReply"];
export type ConfigFileView = S["ConfigFileView"];
export type ProviderProbe = S["ProviderProbe"];
export type ProviderModels = S["ProviderModels"];
export type ChainProbe = S["ChainProbe"];
export type ModelList = S["ModelList"];
export type ErrorBody = S["Error"];
/** The request log's query parameters (filters and paging), as the server documents them. */
export type RequestLogQuery = NonNullable<operations["stats_api.requests"]["parameters"]["query"]>;

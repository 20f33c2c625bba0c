/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Verdicts, drop reasons and event types: the numbers the datapath puts in
 * flow events and counters. src/datapath/reasons.ts mirrors this file and
 * src/datapath/reasons.test.ts keeps the two in sync, so never renumber a
 * value (dashboards and stored flows keep their meaning); add new ones at the end.
 */
#ifndef STRAIT_REASONS_H
#define STRAIT_REASONS_H

/* What happened to a packet. */
#define VERDICT_FORWARDED 0
#define VERDICT_DROPPED 1
#define VERDICT_REDIRECTED 2 /* marked for the node's proxy (L7) */
#define VERDICT_MAX 3

/* Why a packet was dropped (0 when it was not). */
#define DROP_NONE 0
#define DROP_POLICY_DENIED 1       /* a deny entry matched */
#define DROP_POLICY_DEFAULT_DENY 2 /* enforced direction, no allow entry matched */
#define DROP_AUTH_REQUIRED 3       /* allowed, but no valid auth map entry for the peers */
#define DROP_INVALID_SOURCE 4      /* source address is not the endpoint of this interface */
#define DROP_UNKNOWN_ENDPOINT 5    /* destination address is not the endpoint of this interface */
#define DROP_FRAGMENT 6            /* IP fragments are not supported */
#define DROP_INVALID_PACKET 7      /* truncated or malformed headers */
#define DROP_CT_CREATE_FAILED 8    /* the connection-tracking entry could not be written */
#define DROP_NOT_ENCRYPTED 9       /* encryption required; a TCP flow from another node bypassed the tunnel */
#define DROP_REASON_MAX 16

/* Flow event types (struct flow_event.type). */
#define EVENT_POLICY_VERDICT 1 /* first packet of a connection: forwarded or redirected */
#define EVENT_DROP 2           /* any dropped packet */
#define EVENT_AUTH_REQUIRED 3  /* dropped for DROP_AUTH_REQUIRED; carries the auth key */

/* Traffic direction, seen from the endpoint (Cilium's numbering). */
#define DIR_INGRESS 0
#define DIR_EGRESS 1
#define DIR_MAX 2

#endif

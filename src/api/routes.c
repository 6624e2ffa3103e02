/*
 * DESIGN: the whole API surface in one table, so what is exposed (and with
 * which role) can be read in one screen. The auth column is the minimum
 * enum tv_role; 0 means no authentication.
 */
#include "api/account.h"
#include "api/certificates.h"
#include "api/edge.h"
#include "api/imports.h"
#include "api/metrics.h"
#include "api/trustedcas.h"
#include "api/ops.h"
#include "api/ui.h"

#define RO TV_ROLE_READ_ONLY
#define PKI TV_ROLE_PKI_ADMIN
#define ADM TV_ROLE_ADMIN
#define JSON TV_HTTP_JSON_BODY

static const struct tv_http_route S_routes[] = {
	{ "GET", "/healthz", tv_api_healthz, 0, 0 },
	{ "GET", "/readyz", tv_api_readyz, 0, 0 },
	/* no key unless --metrics-require-key: the handler decides (api/metrics.c) */
	{ "GET", "/metrics", tv_api_metrics, 0, 0 },
	{ "GET", "/v1/openapi.json", tv_api_openapi, 0, 0 },
	{ "GET", "/v1/useraccounts", tv_api_useraccounts, RO, 0 },
	{ "GET", "/v1/edgeinstances", tv_api_edge_list, RO, 0 },
	{ "GET", "/v1/edgeinstances/{id}", tv_api_edge_get, RO, 0 },
	{ "GET", "/v1/edgeencryptionkeys", tv_api_enckey_list, RO, 0 },
	{ "GET", "/v1/edgeencryptionkeys/{id}", tv_api_enckey_get, RO, 0 },
	{ "GET", "/v1/apikeys", tv_api_apikeys_list, ADM, 0 },
	{ "POST", "/v1/apikeys", tv_api_apikeys_create, ADM, JSON },
	{ "DELETE", "/v1/apikeys/{id}", tv_api_apikeys_delete, ADM, 0 },
	{ "POST", "/v1/trustedcacertificates", tv_api_cas_create, PKI, JSON },
	{ "GET", "/v1/trustedcacertificates", tv_api_cas_list, RO, 0 },
	{ "POST", "/v1/trustedcacertificates/deletion", tv_api_cas_delete, PKI, JSON },
	{ "GET", "/v1/trustedcacertificates/{fingerprint}", tv_api_cas_get, RO, 0 },
	{ "GET", "/v1/trustedcacertificates/{fingerprint}/contents", tv_api_cas_contents, RO, 0 },
	{ "POST", "/outagedetection/v1/certificates/imports", tv_api_imports_create, PKI, JSON },
	{ "POST", "/v1/certificates/imports", tv_api_imports_create, PKI, JSON },
	{ "GET", "/outagedetection/v1/certificates/imports", tv_api_imports_list, RO, 0 },
	{ "GET", "/v1/certificates/imports", tv_api_imports_list, RO, 0 },
	{ "GET", "/outagedetection/v1/certificates/imports/{id}", tv_api_imports_get, RO, 0 },
	{ "GET", "/v1/certificates/imports/{id}", tv_api_imports_get, RO, 0 },
	{ "POST", "/outagedetection/v1/certificatesearch", tv_api_cert_search, RO, JSON },
	{ "POST", "/outagedetection/v1/certificates/retirement", tv_api_cert_retire, PKI, JSON },
	{ "POST", "/outagedetection/v1/certificates/recovery", tv_api_cert_recover, PKI, JSON },
	{ "POST", "/outagedetection/v1/certificates/deletion", tv_api_cert_delete, PKI, JSON },
	{ "GET", "/outagedetection/v1/certificates/{id}", tv_api_cert_get, RO, 0 },
	{ "POST", "/outagedetection/v1/certificates/{id}/keystore", tv_api_cert_keystore, PKI,
	  JSON },
	{ "GET", "/v1/auditlog", tv_api_auditlog, ADM, 0 },
	/* the web console: public static files, see api/ui.c */
	{ "GET", "/", tv_api_ui_root, 0, 0 },
	{ "GET", "/ui", tv_api_ui_index, 0, 0 },
	{ "GET", "/ui/{asset}", tv_api_ui_asset, 0, 0 },
};

const struct tv_http_route *tv_api_routes(size_t *n)
{
	*n = sizeof(S_routes) / sizeof(S_routes[0]);
	return S_routes;
}

//! `/v1/admin/products`: the product catalogue every tenant shares. Any token reads it; only
//! an admin token for every tenant changes it.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value};

use super::records::{PageQuery, author, created, list, noted, unlimited};
use crate::error::ApiError;
use crate::identity::{Role, authorize};
use crate::licensing::import::{FeatureEntry, ProductEntry};
use crate::licensing::manage::{Kind, ManageError, products};
use crate::state::AppState;

/// `GET /v1/admin/products`
pub async fn list_products(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state.config.access, Role::Auditor)?;
    let page = query.into_inner().page()?;
    let p = page.clone();
    let items = state.db.run(move |conn| products::list(conn, &p)).await?;
    Ok(list(&items, &page, |p| p.id.clone()))
}

/// `POST /v1/admin/products`: a product with optional `releases` and `features`, as in an
/// import file.
pub async fn create_product(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.config.access, Role::Admin)?;
    unlimited(&caller, "change the product catalogue every tenant shares")?;
    let noted = noted::<ProductEntry>(body)?;
    let by = author(&req, &caller, noted.reason, noted.ticket);
    let entry = noted.body;
    let view = state
        .db
        .run(move |conn| products::create(conn, entry, &by))
        .await?;
    state.cache.invalidate_all();
    Ok(created(
        format!("/v1/admin/products/{}", view.product.id),
        view,
    ))
}

/// `GET /v1/admin/products/{product}`: with its features and releases.
pub async fn get_product(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    _query: web::Query<super::audit::NoQuery>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state.config.access, Role::Auditor)?;
    let id = path.into_inner();
    let lookup = id.clone();
    let view = state
        .db
        .run(move |conn| products::get(conn, &lookup))
        .await?;
    let view = view.ok_or(ManageError::NotFound {
        kind: Kind::Product,
        id,
    })?;
    Ok(HttpResponse::Ok().json(view))
}

/// `POST /v1/admin/products/{product}/features`: 201 with the product.
pub async fn add_feature(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.config.access, Role::Admin)?;
    unlimited(&caller, "change the product catalogue every tenant shares")?;
    let product = path.into_inner();
    let noted = noted::<FeatureEntry>(body)?;
    let by = author(&req, &caller, noted.reason, noted.ticket);
    let feature = noted.body;
    let view = state
        .db
        .run(move |conn| products::add_feature(conn, &product, feature, &by))
        .await?;
    state.cache.invalidate_all();
    Ok(created(
        format!("/v1/admin/products/{}", view.product.id),
        view,
    ))
}

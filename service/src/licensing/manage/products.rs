//! Products with their releases and features: the catalogue every tenant shares.

use diesel::prelude::*;
use serde::Serialize;

use super::{Author, Kind, ManageError, Page, change_log, now, rfc3339};
use crate::db::models::{Feature, Product, ProductRelease};
use crate::db::schema::{features, product_releases, products};
use crate::db::{DbConnection, DbError, write_transaction};
use crate::licensing::import::validate::{self, Known};
use crate::licensing::import::write::write_product;
use crate::licensing::import::{FeatureEntry, ProductEntry, Summary};

/// A product as the admin API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProductSummary {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Product> for ProductSummary {
    fn from(row: Product) -> Self {
        Self {
            created_at: rfc3339(&row.created_at),
            updated_at: rfc3339(&row.updated_at),
            id: row.id,
            name: row.name,
        }
    }
}

/// A product with its features and releases.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProductView {
    #[serde(flatten)]
    pub product: ProductSummary,
    pub features: Vec<FeatureEntry>,
    pub releases: Vec<ReleaseView>,
}

/// A release of a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseView {
    pub version: String,
    pub released_on: Option<String>,
}

/// Products in id order.
pub fn list(conn: &mut DbConnection, page: &Page) -> Result<Vec<ProductSummary>, DbError> {
    let mut query = products::table
        .select(Product::as_select())
        .order(products::id)
        .limit(page.limit)
        .into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(products::id.gt(after.clone()));
    }
    Ok(query.load(conn)?.into_iter().map(Into::into).collect())
}

/// One product with its features (by id) and releases (by version as stored).
pub fn get(conn: &mut DbConnection, id: &str) -> Result<Option<ProductView>, DbError> {
    let Some(product) = products::table
        .find(id)
        .select(Product::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let features: Vec<Feature> = features::table
        .filter(features::product_id.eq(id))
        .order(features::id)
        .select(Feature::as_select())
        .load(conn)?;
    let releases: Vec<ProductRelease> = product_releases::table
        .filter(product_releases::product_id.eq(id))
        .order(product_releases::version)
        .select(ProductRelease::as_select())
        .load(conn)?;
    Ok(Some(ProductView {
        product: product.into(),
        features: features
            .into_iter()
            .map(|f| FeatureEntry {
                id: f.id,
                name: f.name,
            })
            .collect(),
        releases: releases
            .into_iter()
            .map(|r| ReleaseView {
                version: r.version,
                released_on: r.released_on,
            })
            .collect(),
    }))
}

/// Creates a product with its releases and features; `Exists` when its id is taken.
pub fn create(
    conn: &mut DbConnection,
    entry: ProductEntry,
    author: &Author,
) -> Result<ProductView, ManageError> {
    write_transaction(conn, |conn| {
        if get(conn, &entry.id)?.is_some() {
            return Err(ManageError::exists(Kind::Product, &entry.id));
        }
        let known = Known::catalogue(conn)?;
        for feature in &entry.features {
            if known.feature_owner(&feature.id).is_some() {
                return Err(ManageError::exists(Kind::Feature, &feature.id));
            }
        }
        ManageError::check(validate::product(&entry, &known))?;
        write(conn, &entry, author)
    })
}

/// Adds a feature to a product; `Exists` when a feature of any product has its id.
pub fn add_feature(
    conn: &mut DbConnection,
    product: &str,
    feature: FeatureEntry,
    author: &Author,
) -> Result<ProductView, ManageError> {
    write_transaction(conn, |conn| {
        let current =
            get(conn, product)?.ok_or_else(|| ManageError::not_found(Kind::Product, product))?;
        let known = Known::catalogue(conn)?;
        if known.feature_owner(&feature.id).is_some() {
            return Err(ManageError::exists(Kind::Feature, &feature.id));
        }
        ManageError::check(validate::feature(product, &feature, &known))?;
        let entry = ProductEntry {
            id: current.product.id,
            name: current.product.name,
            releases: Vec::new(),
            features: vec![feature],
        };
        write(conn, &entry, author)
    })
}

fn write(
    conn: &mut DbConnection,
    entry: &ProductEntry,
    author: &Author,
) -> Result<ProductView, ManageError> {
    let mut log = change_log();
    write_product(conn, entry, now(), &mut Summary::default(), &mut log)?;
    author.record_log(conn, log)?;
    get(conn, &entry.id)?.ok_or_else(|| ManageError::not_found(Kind::Product, &entry.id))
}

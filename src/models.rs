//! The set of configured models, in config order and by name: what a request, a scrape and a status
//! document read. `AppState` swaps a whole new set in on a config reload.

use std::collections::HashMap;
use std::sync::Arc;

use crate::model::Model;

/// The configured models, in config order, with a name index.
#[derive(Default)]
pub struct Models {
    order: Vec<Arc<Model>>,
    by_name: HashMap<String, Arc<Model>>,
}

impl Models {
    pub fn new(models: Vec<Arc<Model>>) -> Self {
        let by_name = models
            .iter()
            .map(|m| (m.name().to_string(), m.clone()))
            .collect();
        Models {
            order: models,
            by_name,
        }
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Model>> {
        self.by_name.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Model>> {
        self.order.iter()
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

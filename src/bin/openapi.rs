//! Prints the OpenAPI document the Worker serves at `GET /api/openapi.json`: `make` writes it to
//! `build/openapi.json`, from which `@edgehook/client`'s types are generated.

fn main() {
    print!("{}", edgehook::api::openapi::document());
}

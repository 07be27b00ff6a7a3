//! The macros of `kani-shim`: `#[kani::proof]` (and the attributes that go with it) turned into
//! an enumerating `#[test]`, and `#[derive(kani::Arbitrary)]`.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as Tokens, TokenTree};
use quote::{ToTokens, quote};
use syn::spanned::Spanned;
use syn::{
    Attribute, Data, DeriveInput, Error, Fields, ItemFn, LitInt, Meta, parse_macro_input,
    parse_quote,
};

/// The harness attributes that may follow `#[kani::proof]`.
enum HarnessAttr {
    Unwind,
    ShouldPanic,
    MaxPaths(u64),
}

/// `attr` as a harness attribute (`kani::unwind(N)`, `kani::should_panic`,
/// `kani::shim::max_paths(N)`), `None` if it is not a `kani::` attribute.
fn harness_attr(attr: &Attribute) -> Option<syn::Result<HarnessAttr>> {
    let path: Vec<String> = attr
        .path()
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    let parsed = match path.as_slice() {
        ["kani", "unwind"] => attr
            .parse_args::<LitInt>()
            .and_then(|n| n.base10_parse::<u32>())
            .map(|_| HarnessAttr::Unwind),
        ["kani", "should_panic"] => match &attr.meta {
            Meta::Path(_) => Ok(HarnessAttr::ShouldPanic),
            other => Err(Error::new(
                other.span(),
                "#[kani::should_panic] takes no arguments",
            )),
        },
        ["kani", "shim", "max_paths"] => attr
            .parse_args::<LitInt>()
            .and_then(|n| n.base10_parse::<u64>())
            .map(HarnessAttr::MaxPaths),
        ["kani", other] => Err(Error::new(
            attr.span(),
            format!("#[kani::{other}] is not supported by kani-shim"),
        )),
        _ => return None,
    };
    Some(parsed)
}

/// The lines of the `cover!` invocations in `tokens` (at any depth).
fn cover_lines(tokens: Tokens, lines: &mut Vec<u32>) {
    let mut previous_is_cover: Option<u32> = None;
    for token in tokens {
        match &token {
            TokenTree::Punct(p) if p.as_char() == '!' => {
                if let Some(line) = previous_is_cover {
                    lines.push(line);
                }
            }
            TokenTree::Group(g) => cover_lines(g.stream(), lines),
            _ => {}
        }
        previous_is_cover = match &token {
            TokenTree::Ident(i) if i == "cover" => Some(i.span().unwrap().line() as u32),
            _ => None,
        };
    }
}

/// `#[kani::proof]`: the fn stays as it is (what the real Kani sees); a module of the same
/// name gets its `HARNESS` description and the `#[test] fn harness()` that explores it.
#[proc_macro_attribute]
pub fn proof(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut function = parse_macro_input!(item as ItemFn);
    let mut errors = Vec::new();
    if !attr.is_empty() {
        errors.push(Error::new(
            Span::call_site(),
            "#[kani::proof] takes no arguments",
        ));
    }
    if !function.sig.inputs.is_empty() || !function.sig.generics.params.is_empty() {
        errors.push(Error::new(
            function.sig.span(),
            "a harness takes no arguments or generics",
        ));
    }
    let (mut should_panic, mut max_paths) = (false, None);
    let mut kept = Vec::new();
    for attr in function.attrs.drain(..) {
        match harness_attr(&attr) {
            None => kept.push(attr),
            Some(Err(e)) => errors.push(e),
            Some(Ok(HarnessAttr::Unwind)) => {}
            Some(Ok(HarnessAttr::ShouldPanic)) => should_panic = true,
            Some(Ok(HarnessAttr::MaxPaths(n))) => max_paths = Some(n),
        }
    }
    if let Some(first) = errors.into_iter().reduce(|mut a, b| {
        a.combine(b);
        a
    }) {
        return first.to_compile_error().into();
    }
    function.attrs = kept;
    function.attrs.push(parse_quote!(#[allow(dead_code)]));
    let mut lines = Vec::new();
    cover_lines(function.block.to_token_stream(), &mut lines);
    lines.sort_unstable();
    lines.dedup();

    let name = &function.sig.ident;
    let vis = &function.vis;
    let should_panic = should_panic.then(|| quote!(.should_panic()));
    let max_paths = max_paths.map(|n| quote!(.max_paths(#n)));
    let doc = format!("The shim's run of harness `{name}`.");
    quote! {
        #function

        #[doc = #doc]
        #[allow(dead_code)]
        #vis mod #name {
            /// The harness as `kani::shim::check` explores it.
            pub const HARNESS: ::kani::shim::Harness =
                ::kani::shim::Harness::new(module_path!(), file!(), super::#name)
                    .package(env!("CARGO_PKG_NAME"))
                    .cover_lines(&[#(#lines),*])
                    #should_panic
                    #max_paths;

            #[test]
            fn harness() {
                ::kani::shim::run(&HARNESS);
            }
        }
    }
    .into()
}

/// A harness attribute written before `#[kani::proof]`: moved after it, where `proof` reads it.
fn move_after_proof(attr: Tokens, item: TokenStream, path: Tokens) -> TokenStream {
    let mut function = parse_macro_input!(item as ItemFn);
    let has_proof = function
        .attrs
        .iter()
        .any(|a| a.path().segments.last().is_some_and(|s| s.ident == "proof"));
    if !has_proof {
        let message = format!("#[{path}] needs #[kani::proof] on the same fn").replace(' ', "");
        return Error::new(Span::call_site(), message)
            .to_compile_error()
            .into();
    }
    let args = (!attr.is_empty()).then(|| quote!((#attr)));
    function.attrs.push(parse_quote!(#[#path #args]));
    quote!(#function).into()
}

/// `#[kani::unwind(N)]`: Kani's loop bound. The shim runs loops concretely; it checks `N`.
#[proc_macro_attribute]
pub fn unwind(attr: TokenStream, item: TokenStream) -> TokenStream {
    move_after_proof(attr.into(), item, quote!(::kani::unwind))
}

/// `#[kani::should_panic]`: the harness passes only if some path panics.
#[proc_macro_attribute]
pub fn should_panic(attr: TokenStream, item: TokenStream) -> TokenStream {
    move_after_proof(attr.into(), item, quote!(::kani::should_panic))
}

/// `#[kani::shim::max_paths(N)]` (under `cfg_attr(not(kani), ..)`): the harness's path budget.
#[proc_macro_attribute]
pub fn shim_max_paths(attr: TokenStream, item: TokenStream) -> TokenStream {
    move_after_proof(attr.into(), item, quote!(::kani::shim::max_paths))
}

/// `#[derive(kani::Arbitrary)]`: a struct's fields each `kani::any()`; an enum's variant one
/// exhaustive choice, then its fields.
#[proc_macro_derive(Arbitrary)]
pub fn derive_arbitrary(item: TokenStream) -> TokenStream {
    let mut input = parse_macro_input!(item as DeriveInput);
    for param in input.generics.type_params_mut() {
        param.bounds.push(parse_quote!(::kani::Arbitrary));
    }
    let body = match &input.data {
        Data::Struct(s) => construct(quote!(Self), &s.fields),
        Data::Enum(e) => {
            let count = e.variants.len() as u32;
            let arms = e.variants.iter().enumerate().map(|(i, v)| {
                let index = i as u32;
                let variant = &v.ident;
                let value = construct(quote!(Self::#variant), &v.fields);
                quote!(#index => #value,)
            });
            quote! {
                match ::kani::shim::choose(#count) {
                    #(#arms)*
                    _ => unreachable!("kani::shim::choose returned a value out of range"),
                }
            }
        }
        Data::Union(u) => {
            return Error::new(
                u.union_token.span,
                "kani::Arbitrary cannot be derived for a union",
            )
            .to_compile_error()
            .into();
        }
    };
    let name = &input.ident;
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    quote! {
        impl #impl_generics ::kani::Arbitrary for #name #type_generics #where_clause {
            fn any() -> Self {
                #body
            }
        }
    }
    .into()
}

/// `path` built from `fields`, each `kani::any()`.
fn construct(path: Tokens, fields: &Fields) -> Tokens {
    match fields {
        Fields::Named(named) => {
            let names = named.named.iter().map(|f| &f.ident);
            quote!(#path { #(#names: ::kani::any()),* })
        }
        Fields::Unnamed(unnamed) => {
            let anys = unnamed.unnamed.iter().map(|_| quote!(::kani::any()));
            quote!(#path(#(#anys),*))
        }
        Fields::Unit => path,
    }
}
